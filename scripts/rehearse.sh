#!/usr/bin/env bash
# The rehearsals: the long lab proofs (20-60 min each) that CI does not run. Each deploys
# a lab of its own; they run one after the other (two cores), a failure does not stop the
# others. At the end one table: result, minutes, commit, packets lost, API downtime per
# service, also in build/rehearsals/summary.md and summary.json. Exit 1 if any failed.
#
#   scripts/rehearse.sh [NAME...]   # no NAME: all of them
#   scripts/rehearse.sh --list      # the names and what each proves
#   scripts/rehearse.sh --summary   # the table of every rehearsal recorded in build/rehearsals
#                                   # (the last run of each, by any invocation; see its commit)
#
# The catalogue is tests/lib/rehearsals.py; a rehearsal's tests run only when
# STACKHOP_REHEARSAL names it, which this script sets.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
cd "$repo"
catalogue() { "$venv/bin/python" -m tests.lib.rehearsals "$@"; }

case ${1:-} in
  --list) catalogue list; exit 0 ;;
  --summary) catalogue summary "$repo/build/rehearsals"; exit ;;
  -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
"$repo/scripts/setup.sh"
export PATH="$venv/bin:$PATH"
mapfile -t known < <(catalogue names)
names=("$@")
((${#names[@]})) || names=("${known[@]}")
for name in "${names[@]}"; do
  [[ " ${known[*]} " == *" $name "* ]] || { echo "rehearse: no rehearsal '$name' (--list)" >&2; exit 2; }
done
# Each rehearsal deploys its own lab: never reuse a lab or keep one from the environment.
unset STACKHOP_LAB_REGION STACKHOP_LAB_REGION_KEEP STACKHOP_CP_LAB STACKHOP_CM_REGION_LAB \
  STACKHOP_REGION_CHAIN

out="$repo/build/rehearsals"
commit=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null) ]] || commit+="+changes"
for name in "${names[@]}"; do
  dir="$out/$name"
  rm -rf "$dir" && mkdir -p "$dir"
  mapfile -d '' -t cmd < <(catalogue command "$name" "$out")
  echo "== rehearsal $name: ${cmd[*]}"
  start=$(date +%s)
  set +e
  "${cmd[@]}" 2>&1 | tee "$dir/pytest.log"
  rc=${PIPESTATUS[0]}
  set -e
  seconds=$(( $(date +%s) - start ))
  printf '{"name": "%s", "rc": %d, "start": %d, "seconds": %d, "commit": "%s"}\n' \
    "$name" "$rc" "$start" "$seconds" "$commit" > "$dir/run.json"
  catalogue collect "$out" "$name"   # before the next rehearsal can overwrite the figures
  echo "== rehearsal $name: rc $rc after $seconds s (log $dir/pytest.log)"
done

echo
echo "== rehearsals (build/rehearsals/summary.md)"
catalogue summary "$out" "${names[@]}"
