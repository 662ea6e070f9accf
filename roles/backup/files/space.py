"""Print, as JSON, the free bytes of the file system holding TARGET (or its nearest
existing parent) and the size in bytes of each further PATH (null when missing):
{"target": ..., "checked": ..., "free": N, "paths": {PATH: N or null}}."""
import json
import os
import sys


def tree_bytes(path):
    if not os.path.lexists(path):
        return None
    if not os.path.isdir(path) or os.path.islink(path):
        return os.lstat(path).st_size
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


target = os.path.abspath(sys.argv[1])
checked = target
while not os.path.exists(checked):
    checked = os.path.dirname(checked)
st = os.statvfs(checked)
print(json.dumps({"target": target, "checked": checked, "free": st.f_bavail * st.f_frsize,
                  "paths": {p: tree_bytes(p) for p in sys.argv[2:]}}))
