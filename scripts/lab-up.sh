#!/usr/bin/env bash
# Bring up the lab region: lab hosts (lab/labctl.py) from lab/inventory/hosts.yml,
# then OpenStack release N on them (lab/playbooks/deploy.yml), then the smoke check with
# two VMs pinging (lab/playbooks/vms.yml). Idempotent: a second run changes nothing.
#
#   scripts/lab-up.sh [--topology region|debian|ha] [--lab NAME] [--hosts-only] [--computes N
#                     [--vms-per-compute V]] [-- extra ansible-playbook args]
#
# --lab NAME (default $STACKHOP_LAB or stackhop): another lab from the same inventory;
# its inventory (same hosts, group_vars, the lab's own connection vars) is written to
# build/lab/NAME/hosts.yml. Prints the seconds each phase took.
# --computes N (region only, not the lab stackhop): the region with N computes instead of
# two, over several AZs and racks, V VMs on each (default 1), from `labctl.py
# fleet-inventory` (lab/README.md, "A fleet").
# STACKHOP_LAB_VARIANT=NAME (region or ha topology): lab/inventory-variants/NAME.yml merged into
# that derived inventory (dbmove: a second MariaDB on ctl-new, stackhop_db_new; ironic:
# ironic and nova-compute-ironic on the controller, fake-hardware nodes, a bare-metal
# server), and NAME.group_vars.yml, if there is one, after the lab's group_vars/all.
# --topology debian: the Debian region instead (lab/inventory-debian/hosts.yml, zed from
# Debian 12's own packages, lab/playbooks/deploy_debian.yml; lab/README.md); its lab is
# `deb` unless --lab or $STACKHOP_LAB names another, and its inventory is always derived.
# --topology ha: release N on an HA control plane (lab/inventory-ha/hosts.yml: a Galera
# cluster, a RabbitMQ cluster and a keepalived VIP with HAProxy on three controllers, every
# API, scheduler and conductor on each of them behind the VIP, a network node, four
# computes; lab/playbooks/deploy_ha.yml), then the VMs; its lab is `ha` unless named, and
# its inventory is always derived.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
lab=${STACKHOP_LAB:-}
variant=${STACKHOP_LAB_VARIANT:-}
topology=region
hosts_only=0
computes=
vms_per_compute=1
while [ $# -gt 0 ]; do
  case $1 in
    --lab) lab=$2; shift 2 ;;
    --topology) topology=$2; shift 2 ;;
    --hosts-only) hosts_only=1; shift ;;
    --computes) computes=$2; shift 2 ;;
    --vms-per-compute) vms_per_compute=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--topology region|debian|ha] [--lab NAME] [--hosts-only] [--computes N [--vms-per-compute V]] [-- ansible-playbook args]" >&2; exit 2 ;;
  esac
done
export PATH="$venv/bin:$PATH"
cd "$repo"
case $topology in
  region) src=lab/inventory/hosts.yml; deploy=lab/playbooks/deploy.yml; lab=${lab:-stackhop}
          what="release N" ;;
  debian) src=lab/inventory-debian/hosts.yml; deploy=lab/playbooks/deploy_debian.yml; lab=${lab:-deb}
          what="zed from Debian's packages" ;;
  ha) src=lab/inventory-ha/hosts.yml; deploy=lab/playbooks/deploy_ha.yml; lab=${lab:-ha}
      what="release N behind the VIP" ;;
  *) echo "$0: unknown topology $topology (region, debian or ha)" >&2; exit 2 ;;
esac
overlay=
if [ -n "$variant" ]; then
  overlay=lab/inventory-variants/$variant.yml
  if [ "$topology" = debian ] || [ ! -f "$overlay" ] || [ "$lab" = stackhop ]; then
    echo "$0: variant $variant needs the region or ha topology, $overlay and a lab other than stackhop (--lab NAME)" >&2; exit 2
  fi
fi
if [ -n "$computes" ]; then
  if [ "$topology" != region ] || [ "$lab" = stackhop ]; then
    echo "$0: --computes makes a lab region of its own; give --lab NAME (not stackhop, whose inventory is lab/inventory/hosts.yml)" >&2
    exit 2
  fi
  [ -z "$overlay" ] || { echo "$0: --computes and STACKHOP_LAB_VARIANT do not combine yet; give one" >&2; exit 2; }
  dir=build/lab/$lab
  mkdir -p "$dir"
  "$venv/bin/python" lab/labctl.py fleet-inventory --lab "$lab" --computes "$computes" \
    --vms-per-compute "$vms_per_compute" --source "$src" --out "$dir/hosts.yml" >/dev/null
  ln -sfn "$repo/$(dirname "$src")/group_vars" "$dir/group_vars"
  inv=$dir/hosts.yml
elif [ "$topology" = region ] && [ "$lab" = stackhop ]; then
  inv=$src
else
  dir=build/lab/$lab
  mkdir -p "$dir"
  "$venv/bin/python" - "$lab" "$src" "$dir/hosts.yml" "$overlay" <<'PY'
import json, subprocess, sys, yaml
lab, src, dst, overlay = sys.argv[1:]
data = yaml.safe_load(open(src))
cv = json.loads(subprocess.run([sys.executable, "lab/labctl.py", "connection-vars",
                                "--lab", lab], check=True, capture_output=True,
                               text=True).stdout)
data["all"]["vars"].update(cv)


def merge(into, extra):
    """extra's keys into ``into``, dictionaries merged key by key (a variant adds groups and vars)."""
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


if overlay:
    merge(data, yaml.safe_load(open(overlay)))
with open(dst, "w") as f:
    f.write("# derived from %s%s for lab %s by scripts/lab-up.sh; do not edit\n"
            % (src, " and " + overlay if overlay else "", lab))
    yaml.safe_dump(data, f, sort_keys=False)
PY
  # a variant's region-wide settings (lab/inventory-variants/NAME.group_vars.yml) must
  # outrank the lab's group_vars/all: linked after the lab's own files there
  gv=lab/inventory-variants/$variant.group_vars.yml
  if [ -n "$variant" ] && [ -f "$gv" ]; then
    rm -rf "$dir/group_vars"
    mkdir -p "$dir/group_vars/all"
    for f in "$repo/$(dirname "$src")"/group_vars/all/*; do ln -sfn "$f" "$dir/group_vars/all/"; done
    ln -sfn "$repo/$gv" "$dir/group_vars/all/zz-variant-$variant.yml"
  else
    [ -L "$dir/group_vars" ] || rm -rf "$dir/group_vars"
    ln -sfn "$repo/$(dirname "$src")/group_vars" "$dir/group_vars"
  fi
  inv=$dir/hosts.yml
fi
t0=$(date +%s)
mkdir -p build/lab
"$venv/bin/python" lab/labctl.py create --lab "$lab" --inventory "$inv" >"build/lab/$lab-hosts.json"
t1=$(date +%s)
echo "lab-up: hosts of lab $lab up in $((t1 - t0)) s (inventory $inv; their addresses in build/lab/$lab-hosts.json)"
[ "$hosts_only" = 1 ] && exit 0
ansible-playbook -i "$inv" "$deploy" "$@"
t2=$(date +%s)
echo "lab-up: $what deployed in $((t2 - t1)) s"
ansible-playbook -i "$inv" lab/playbooks/vms.yml "$@"
t3=$(date +%s)
echo "lab-up: VMs pinging after $((t3 - t2)) s; total $((t3 - t0)) s"
