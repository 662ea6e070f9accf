#!/bin/sh
# Build the lab's OpenStack client venv once per machine (runs on the Ansible controller):
#   build_client_venv.sh CACHE UV PYTHON PACKAGE...
# uv's --relocatable venv runs at any path (its scripts find their python beside them),
# so it is built in CACHE/<hash of the spec> and copied to the hosts as it is. A venv
# without its marker (an interrupted build) is built again. Prints the venv's path.
set -eu
cache=$1 uv=$2 python=$3
shift 3
hash=$(printf '%s\n' "$("$python" -V 2>&1)" "$@" | sha256sum | cut -c1-12)
dir=$cache/openstack-client-$hash
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -e "$dir/.stackhop-complete" ]; then
  rm -rf "$dir"
  "$uv" venv -q --relocatable --python "$python" "$dir"
  "$uv" pip install -q --python "$dir/bin/python" "$@"
  touch "$dir/.stackhop-complete"
  echo "built $dir"
else
  echo "reused $dir"
fi
