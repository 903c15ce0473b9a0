"""In-sandbox launcher of a Python *session*: PID 1 of a session container.

A session is a stateful interpreter: one Jupyter kernel (ipykernel) per container, living as long as
the session. This launcher is the kernel's client. It starts the kernel, reports READY, then serves
one command at a time from the host, each a JSON line on stdin carrying a nonce:

  {"op": "execute", "nonce", "code"}            run a cell; relay its output, end with a result frame
  {"op": "interrupt"}                           (only while a cell runs) interrupt it: SIGINT, then a
                                                kernel restart if it does not yield in time
  {"op": "upload", "nonce", "inbox", "path"}    copy /sandbox/job/inbox/<inbox> to /work/<path>
  {"op": "download", "nonce", "path", "max_bytes"}  send /work/<path>
  {"op": "list", "nonce", "max_entries"}        list the regular files under /work

Code and uploads reach the sandbox only through stdin and the read-only job mount (the host writes
into the inbox, which a read-only bind mount shows at once): nothing is ever written into the running
container from outside.

Frames on stdout are written by the frame writer shared with the one-shot launcher
(launcher_common.py: the same header, and the boot steps both take); frame types, paths, the inbox
and the record fields come from ../protocol.json (its `session` section), shared with the host: stdout, stderr, result (JSON cell_result), ready, display
(JSON {kind, data: MIME bundle}) and reply (a JSON reply_header line, then optional file content). The kernel never sees stdin or
this process's stdout, and every frame that ends an operation echoes that operation's nonce, which the
kernel never sees either.

Who can reach what: under gVisor any process can reopen a same-uid process's descriptors through
/proc/PID/fd, whatever PR_SET_DUMPABLE says. So in a container this launcher starts as uid 0 holding only
CAP_SETUID and CAP_SETGID, at once takes the kernel user's effective ids (protocol.json
session.kernel_user; real and saved ids stay 0), and starts the kernel as that user with no capability.
Its stdin and stdout were made for uid 0, so the kernel's opens of /proc/1/fd/* fail (EACCES), as do
/proc/1/mem and ptrace; everything this launcher does on files it does with the kernel user's rights.
Run as a plain process by any other user (the conformance tests), it starts the kernel as itself.

Session files never follow a symbolic link: every component of a path is opened relative to the
directory before it with O_NOFOLLOW (openat), so a link the code made cannot lead outside /work
(session_files.py). The kernel process and its client are in session_kernel_channel.py.
"""

import importlib.util
import json
import os
import queue
import re
import sys
import threading
import time

# -I keeps this directory off sys.path, so the part shared with the one-shot launcher is loaded by path,
# and registered so that the modules it loads (load_sibling) share this one instance.
_common_spec = importlib.util.spec_from_file_location(
    "launcher_common", os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher_common.py")
)
common = importlib.util.module_from_spec(_common_spec)
sys.modules["launcher_common"] = common
_common_spec.loader.exec_module(common)
files = common.load_sibling("session_files")
channel = common.load_sibling("session_kernel_channel")
FRAMES = common.FRAMES
write_frame, reply = common.write_frame, common.write_reply
FRAME_STDOUT = FRAMES["stdout"]
FRAME_STDERR = FRAMES["stderr"]
FRAME_RESULT = FRAMES["result"]
FRAME_READY = FRAMES["ready"]
FRAME_DISPLAY = FRAMES["display"]

KERNEL_READY_TIMEOUT_S = channel.KERNEL_READY_TIMEOUT_S
# After SIGINT, how long a cell has to stop before its kernel is restarted.
INTERRUPT_GRACE_S = common.PROTOCOL["session"]["interrupt_grace_ms"] / 1000
POLL_S = 0.05
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Jupyter MIME types whose content is not text: the kernel sends them base64-encoded.
TEXT_MIME = re.compile(r"^(text/.*|.*\+xml|.*json|application/javascript)$")


def diagnostic(message):
    common.diagnostic(message, "session launcher")


def mime_bundle(data):
    """A Jupyter MIME bundle as sent to the host: text as text, JSON as JSON text, binary as base64."""
    bundle = {}
    for mime, value in data.items():
        if not isinstance(value, str):
            value = json.dumps(value)
        bundle[mime] = value
    return bundle


def relay_output(message):
    """Relays one IOPub message of the running cell as a frame; returns the cell's error (ename,
    evalue) when the message reports one, else None."""
    kind = message["msg_type"]
    content = message["content"]
    if kind == "stream":
        write_frame(FRAME_STDOUT if content["name"] == "stdout" else FRAME_STDERR, content["text"].encode())
    elif kind in ("execute_result", "display_data", "update_display_data"):
        kind = "display_data" if kind == "update_display_data" else kind
        payload = {"kind": kind, "data": mime_bundle(content.get("data", {}))}
        write_frame(FRAME_DISPLAY, json.dumps(payload).encode())
    elif kind == "error":
        traceback = ANSI_ESCAPE.sub("", "\n".join(content.get("traceback", [])))
        write_frame(FRAME_STDERR, (traceback + "\n").encode())
        return {"ename": content.get("ename", ""), "evalue": content.get("evalue", "")}
    return None


class Session:
    def __init__(self, kernel, commands):
        self.kernel = kernel
        self.commands = commands
        self.interrupted = threading.Event()

    def execute(self, command):
        kernel = self.kernel
        self.interrupted.clear()
        started = time.monotonic()
        msg_id = kernel.client.execute(command["code"], store_history=True, allow_stdin=False, stop_on_error=False)
        error = None
        restarted = False
        interrupted_at = None
        while True:
            if self.interrupted.is_set() and interrupted_at is None:
                interrupted_at = time.monotonic()
                kernel.interrupt()
            if interrupted_at is not None and time.monotonic() - interrupted_at > INTERRUPT_GRACE_S:
                kernel.restart()
                restarted = True
                break
            if not kernel.alive():
                status = kernel.process.returncode
                kernel.restart()
                self.finish(command, started, "error", True, f"the kernel died (status {status})")
                return
            try:
                message = kernel.client.get_iopub_msg(timeout=POLL_S)
            except queue.Empty:
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if channel.is_idle(message):
                break
            error = relay_output(message) or error
        execution_count = 0
        if not restarted:
            execution_count = self.shell_reply(msg_id)
        status = "error" if error else "ok"
        detail = f"{error['ename']}: {error['evalue']}" if error else ""
        if restarted:
            status = "interrupted"
            detail = "the cell did not stop when interrupted; the kernel was restarted and its variables are lost"
        elif interrupted_at is not None:
            status = "interrupted"
        self.finish(command, started, status, restarted, detail, execution_count)

    def shell_reply(self, msg_id):
        deadline = time.monotonic() + KERNEL_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                message = self.kernel.client.get_shell_msg(timeout=1)
            except queue.Empty:
                continue
            if message["parent_header"].get("msg_id") == msg_id:
                return message["content"].get("execution_count", 0) or 0
        return 0

    def finish(self, command, started, status, restarted, detail, execution_count=0):
        # Exactly protocol.json's session.cell_result fields: the host refuses anything else.
        result = {
            "nonce": command["nonce"],
            "status": status,
            "kernel_restarted": restarted,
            "detail": detail,
            "execution_count": execution_count,
            "run_ms": round((time.monotonic() - started) * 1000, 3),
            "max_rss_kb": self.kernel.peak_memory_kb(),
        }
        write_frame(FRAME_RESULT, json.dumps(result).encode())

    def serve(self):
        handlers = {"execute": self.execute, "upload": files.upload, "download": files.download, "list": files.list_files}
        while True:
            command = self.commands.get()
            if command is None:
                return
            handler = handlers.get(command.get("op"))
            if handler is None:
                diagnostic(f"unknown command {command.get('op')!r}")
                continue
            try:
                handler(command)
            except FileNotFoundError:
                reply(command["nonce"], {"ok": False, "error": "not_found", "message": "no such file"})
            except files.LinkRefused as refused:
                reply(command["nonce"], {"ok": False, "error": "link", "message": str(refused)})
            except (IsADirectoryError, NotADirectoryError, PermissionError, OSError) as error:
                reply(command["nonce"], {"ok": False, "error": "failed", "message": error.strerror or str(error)})


def read_commands(session):
    """Reads stdin in a thread: an interrupt must get through while a cell runs."""
    for line in sys.stdin.buffer:
        try:
            command = json.loads(line)
        except ValueError:
            diagnostic("unreadable command")
            continue
        if command.get("op") == "interrupt":
            session.interrupted.set()
        else:
            session.commands.put(command)
    session.commands.put(None)  # the host let go of the sandbox


def main():
    # First: everything below (the egress relay, the kernel's files) is done with the kernel user's rights.
    try:
        dropped = channel.act_as_kernel_user()
    except OSError as error:
        diagnostic(f"cannot act as the kernel user: {error}")  # never run a kernel as uid 0
        sys.exit(1)
    common.make_undumpable()
    transport = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in ("ipc", "tcp") else "ipc"
    common.seed_matplotlib_cache()
    # The egress relay starts at boot, before the kernel exists (a warm sandbox is claimed later; the
    # host binds each cell's policy to the proxy behind the socket).
    kernel = channel.Kernel(transport, channel.kernel_environment(common.start_egress_relay()), dropped)
    try:
        kernel.start()
    except Exception as error:  # noqa: BLE001 - the host only needs to know the session cannot start
        diagnostic(f"the kernel did not start: {type(error).__name__}: {error}")
        sys.exit(1)
    write_frame(FRAME_READY, b"")
    session = Session(kernel, queue.Queue())
    threading.Thread(target=read_commands, args=(session,), daemon=True).start()
    session.serve()
    kernel.stop()


main()
