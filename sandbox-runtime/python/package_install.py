"""Package installer: PID 1 of a Python install sandbox (docs/packages.md).

An install runs in a sandbox of its own (same image, user, limits and isolation as a program's), never
in the program's: the program's sandbox never holds the package socket, so nothing it runs can reach the
index. The host serves its package mirror on a unix socket in install_dir; this script relays
127.0.0.1:port to it (the egress relay, reused), runs pip as the sandbox user into stage_dir (a tmpfs as
large as the operator's size budget: pip's own "No space left on device" ends an install that is too
big), then copies the result to out_dir, which the program's sandbox sees read-only on its sys.path.
HTTP(S)_PROXY point at the mirror too, so an sdist's build step that tries another host is refused
(and logged) there instead of failing silently. Exit status: pip's, or 1 when the copy fails.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(RUNTIME_DIR, os.pardir, "protocol.json"), encoding="utf-8") as protocol_file:
    PROTOCOL = json.load(protocol_file)
PACKAGES = PROTOCOL["packages"]


def main():
    spec = importlib.util.spec_from_file_location("egress_relay", os.path.join(RUNTIME_DIR, "egress_relay.py"))
    relay = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(relay)
    socket_path = os.path.join(PACKAGES["install_dir"], PACKAGES["socket"])
    proxy = relay.start(socket_path, {"proxy_port": PACKAGES["port"], "no_proxy": PROTOCOL["egress"]["no_proxy"]})
    if not proxy:
        print("package install: the package mirror's socket is missing", file=sys.stderr)
        return 1
    with open(os.path.join(PACKAGES["install_dir"], PACKAGES["manifest"]), encoding="utf-8") as manifest_file:
        requirements = json.load(manifest_file)["requirements"]
    env = {
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PIP_CONFIG_FILE": os.devnull,
        "PYTHONDONTWRITEBYTECODE": "1",
        **proxy,
    }
    command = [
        sys.executable, "-m", "pip", "install",
        "--target", PACKAGES["stage_dir"],
        "--index-url", f"http://127.0.0.1:{PACKAGES['port']}/simple/",
        "--no-cache-dir", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
        # The image's setuptools builds an sdist; fetching a build backend would need it on the allowlist.
        "--no-build-isolation", "--no-warn-script-location",
        *requirements,
    ]
    sys.stdout.flush()
    status = subprocess.call(command, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    if status != 0:
        return status
    try:
        shutil.copytree(PACKAGES["stage_dir"], PACKAGES["out_dir"], symlinks=True, dirs_exist_ok=True)
    except OSError as error:
        print(f"package install: copying the installed packages failed: {error}", file=sys.stderr)
        return 1
    return 0


sys.exit(main())
