"""What the one-shot launcher (launcher.py) and the session launcher (session_launcher.py) share:
the protocol (../protocol.json, the host <-> sandbox contract shared with the host and the Node
launchers), the frame writer, diagnostics, and the boot steps both take before their program or
kernel starts.

Frame: 1 byte type, 3 zero bytes, 4 bytes big-endian payload length, payload (Docker's attach
header, so the host parses both layers with one decoder).

Both launchers run with -I, which keeps their own directory off sys.path: they load this module by
path and register it in sys.modules as "launcher_common", so that the modules of this directory they
load with load_sibling() (which `import launcher_common`) share it: one frame writer, one write lock.
It loads egress_relay.py by path too. Only launchers load these modules: the program process
(runner.py) and the session kernel import none of them.
"""

import ctypes
import importlib.util
import json
import os
import shutil
import sys
import threading

RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(RUNTIME_DIR, os.pardir, "protocol.json"), encoding="utf-8") as protocol_file:
    PROTOCOL = json.load(protocol_file)
FRAMES = PROTOCOL["frames"]
PATHS = PROTOCOL["paths"]
CAPS = PROTOCOL["caps"]
MESSAGES = PROTOCOL["messages"]

# Overridable only for the plain-process conformance tests: in a container, the launcher's environment
# is the container spec's, which never sets them.
JOB_DIR = os.environ.get("CODE_SANDBOX_JOB_DIR", PATHS["job_dir"])
WORK_DIR = os.environ.get("CODE_SANDBOX_WORK_DIR", PATHS["work_dir"])

PR_SET_DUMPABLE = 4
MATPLOTLIB_CACHE = "/usr/share/code-sandbox/matplotlib"
MATPLOTLIB_CONFIG_DIR = "/tmp/.matplotlib"

# The environment every program or kernel in a sandbox starts from (nothing of the launcher's own).
BASE_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "MPLCONFIGDIR": MATPLOTLIB_CONFIG_DIR,
}

# The session launcher writes frames from more than one thread; a frame must never be split.
_write_lock = threading.Lock()


def load_sibling(name):
    """The module `name` of this directory, loaded by path once per process and registered in
    sys.modules under that name (-I keeps this directory off sys.path)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(RUNTIME_DIR, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def write_frame(frame_type, payload):
    header = bytes([frame_type, 0, 0, 0]) + len(payload).to_bytes(4, "big")
    data = memoryview(header + payload)
    with _write_lock:
        while data:
            written = os.write(1, data)
            data = data[written:]


def write_reply(nonce, body, content=b""):
    """A session's reply frame: a JSON reply_header line echoing the operation's nonce, then content."""
    write_frame(FRAMES["reply"], json.dumps({"nonce": nonce, **body}).encode() + b"\n" + content)


def diagnostic(message, source="launcher"):
    sys.stderr.write(f"{source}: {message}\n")
    sys.stderr.flush()


def make_undumpable():
    # Keeps a same-uid program out of /proc/1/mem, where the nonces live (on Linux, e.g. runc; runsc
    # 20221219 refuses it even without this, measured). It does not keep a same-uid process out of
    # /proc/1/fd/*, under gVisor: a one-shot program can write raw bytes to /proc/1/fd/1, which is why
    # every frame that ends a run carries the nonce, and a session kernel runs as another uid than its
    # launcher (session_launcher.py).
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except OSError:
        pass


def seed_matplotlib_cache():
    # matplotlib wants a writable config dir and would rebuild its font cache in it on every run;
    # the image ships one built at image-build time.
    if os.path.isdir(MATPLOTLIB_CACHE):
        shutil.copytree(MATPLOTLIB_CACHE, MATPLOTLIB_CONFIG_DIR, dirs_exist_ok=True)


def start_egress_relay():
    """Starts the egress relay when the host put its socket in the job directory, and returns the
    proxy variables for the program ({} when there is none)."""
    spec = importlib.util.spec_from_file_location("egress_relay", os.path.join(RUNTIME_DIR, "egress_relay.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.start(os.path.join(JOB_DIR, PATHS["egress_socket"]), PROTOCOL["egress"])
