"""Print, as JSON, the free bytes of the file system that holds PATH (or its nearest
existing parent, when PATH does not exist yet): {"path": ..., "checked": ..., "free": N}."""
import json
import os
import sys

path = os.path.abspath(sys.argv[1])
checked = path
while not os.path.exists(checked):
    checked = os.path.dirname(checked)
st = os.statvfs(checked)
print(json.dumps({"path": path, "checked": checked, "free": st.f_bavail * st.f_frsize}))
