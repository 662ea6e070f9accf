#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian 12 machine for stackhop: apt packages, a venv
# with Ansible and the test tools, and this checkout linked where Ansible finds it.
# Re-running it does only what is missing.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
log() { printf '[setup] %s\n' "$*" >&2; }

# 1. Debian packages: install only the missing ones.
mapfile -t wanted < <(grep -Ev '^\s*(#|$)' "$repo/scripts/apt-packages.txt")
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The venv: every package at the version requirements.lock pins (compiled from
#    requirements.txt; README says how to refresh it), reinstalled only when the lock changes.
stamp="$venv/.stackhop-requirements.sha256"
want_sum=$(sha256sum "$repo/requirements.lock" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want_sum" ]]; then
  log "venv: installing requirements.lock into $venv"
  [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip uv
  "$venv/bin/uv" pip install -q -p "$venv/bin/python" -r "$repo/requirements.lock"
  echo "$want_sum" > "$stamp"
fi

# 3. The collections where Ansible finds them (ansible.cfg: collections_path =
#    build/collections): the product, and the lab's tooling (lab/, stackhop.lab).
for pair in "upgrade:$repo" "lab:$repo/lab"; do
  link="$repo/build/collections/ansible_collections/stackhop/${pair%%:*}"
  mkdir -p "$(dirname "$link")"
  [[ -L $link && $(readlink "$link") == "${pair#*:}" ]] || ln -sfn "${pair#*:}" "$link"
done

# 4. ansible-test downloads a pip bootstrap script from a host this machine cannot reach;
#    give it one that uses the standard library's ensurepip instead.
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for v in 24_2 25_0 25_1 25_2 25_3; do
  [[ -f $cache/get_pip_$v.py ]] || printf 'import ensurepip\nensurepip.bootstrap(upgrade=True)\n' > "$cache/get_pip_$v.py"
done
log "ready: $venv"
