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
directory before it with O_NOFOLLOW (openat), so a link the code made cannot lead outside /work.
"""

import contextlib
import errno
import importlib.util
import json
import os
import queue
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

# -I keeps this directory off sys.path, so the part shared with the one-shot launcher is loaded by path.
_common_spec = importlib.util.spec_from_file_location(
    "launcher_common", os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher_common.py")
)
common = importlib.util.module_from_spec(_common_spec)
_common_spec.loader.exec_module(common)
PROTOCOL, FRAMES = common.PROTOCOL, common.FRAMES
write_frame = common.write_frame
FRAME_STDOUT = FRAMES["stdout"]
FRAME_STDERR = FRAMES["stderr"]
FRAME_RESULT = FRAMES["result"]
FRAME_READY = FRAMES["ready"]
FRAME_DISPLAY = FRAMES["display"]
FRAME_REPLY = FRAMES["reply"]

INBOX_DIR = os.path.join(common.JOB_DIR, PROTOCOL["session"]["inbox_dir"])
WORK_DIR = common.WORK_DIR
KERNEL_DIR = "/tmp/.kernel"
KERNEL_USER = PROTOCOL["session"]["kernel_user"]
KERNEL_READY_TIMEOUT_S = 60
# After SIGINT, how long a cell has to stop before its kernel is restarted.
INTERRUPT_GRACE_S = PROTOCOL["session"]["interrupt_grace_ms"] / 1000
POLL_S = 0.05
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Jupyter MIME types whose content is not text: the kernel sends them base64-encoded.
TEXT_MIME = re.compile(r"^(text/.*|.*\+xml|.*json|application/javascript)$")


def reply(nonce, body, content=b""):
    write_frame(FRAME_REPLY, json.dumps({"nonce": nonce, **body}).encode() + b"\n" + content)


def diagnostic(message):
    common.diagnostic(message, "session launcher")


def act_as_kernel_user():
    """Started as uid 0 (a session container): from now on act as the kernel user, keeping uid 0 only as
    the real and saved ids that let kernel_user_spawn() set the kernel's ids. Returns whether it did."""
    if os.getuid() != 0:
        return False
    os.setgroups([])
    os.setresgid(0, KERNEL_USER["gid"], 0)
    os.setresuid(0, KERNEL_USER["uid"], 0)
    return True


@contextlib.contextmanager
def kernel_user_spawn(dropped):
    """Popen arguments that start a process as the kernel user, with the effective uid 0 (and so
    CAP_SETUID/CAP_SETGID) needed to set its ids only for as long as the Popen call takes."""
    if not dropped:
        yield {}
        return
    os.seteuid(0)
    try:
        yield {"user": KERNEL_USER["uid"], "group": KERNEL_USER["gid"], "extra_groups": []}
    finally:
        os.seteuid(KERNEL_USER["uid"])


def kernel_environment(proxy_environment):
    return {
        **common.BASE_ENVIRONMENT,
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "JUPYTER_RUNTIME_DIR": KERNEL_DIR,
        "JUPYTER_PLATFORM_DIRS": "1",
        # The kernel ships a debugger; its start-up warning about frozen modules is noise here.
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        # HTTP(S)_PROXY and NO_PROXY when the server allows egress (urllib, requests and pip use them).
        **proxy_environment,
    }


class Kernel:
    """One ipykernel process and a blocking client connected to it over ipc sockets in /tmp."""

    def __init__(self, transport, environment, dropped):
        self.transport = transport
        self.environment = environment
        self.dropped = dropped
        self.process = None
        self.client = None

    def start(self):
        from jupyter_client import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        os.makedirs(KERNEL_DIR, exist_ok=True)
        connection_file = os.path.join(KERNEL_DIR, "kernel.json")
        ip = os.path.join(KERNEL_DIR, "kernel") if self.transport == "ipc" else "127.0.0.1"
        write_connection_file(connection_file, transport=self.transport, ip=ip)
        with kernel_user_spawn(self.dropped) as user:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file, "--HistoryManager.enabled=False"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=2,  # kernel crashes show up as launcher diagnostics
                cwd=WORK_DIR,
                env=self.environment,
                close_fds=True,
                **user,
            )
        self.client = BlockingKernelClient(connection_file=connection_file)
        self.client.load_connection_file()
        # No heartbeat channel: jupyter-client would count a kernel that has not beaten yet (it takes
        # seconds to start under gVisor) as dead. Whether it lives is what its process says.
        self.client.start_channels(hb=False)
        self.wait_until_ready()
        # Plain tracebacks (no colour codes), and plots shown inline as PNG.
        self.run_silently("%colors NoColor\n%config InlineBackend.figure_formats = ['png']")

    def wait_until_ready(self):
        deadline = time.monotonic() + KERNEL_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"the kernel exited with status {self.process.returncode}")
            msg_id = self.client.kernel_info()
            try:
                while True:
                    message = self.client.get_shell_msg(timeout=1)
                    if message["parent_header"].get("msg_id") == msg_id:
                        break
            except queue.Empty:
                continue
            # IOPub is PUB/SUB: whatever the kernel publishes before this client's subscription has
            # reached it is dropped (ZeroMQ's "slow joiner"), such as the idle status run_silently
            # waits for, which then hung the start for a minute about one time in ten here. The kernel
            # publishes its status for every request, so one message seen proves the channel is up.
            try:
                self.client.get_iopub_msg(timeout=0.5)
                return
            except queue.Empty:
                continue
        raise RuntimeError(f"the kernel did not answer within {KERNEL_READY_TIMEOUT_S} s")

    def run_silently(self, code):
        msg_id = self.client.execute(code, silent=True, store_history=False)
        self.client.get_shell_msg(timeout=KERNEL_READY_TIMEOUT_S)
        while True:
            message = self.client.get_iopub_msg(timeout=KERNEL_READY_TIMEOUT_S)
            if message["parent_header"].get("msg_id") == msg_id and is_idle(message):
                return

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def interrupt(self):
        if self.alive():
            os.kill(self.process.pid, signal.SIGINT)

    def stop(self):
        if self.client is not None:
            self.client.stop_channels()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self):
        self.stop()
        # Whatever the cell left running goes with its kernel.
        kill_strays(self.process.pid if self.process else None)
        self.start()

    def peak_memory_kb(self):
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except (OSError, ValueError, AttributeError):
            pass
        return 0


STRAY_REAP_TIMEOUT_S = 5


def kill_strays(_old_pid):
    """Kills every process but this one (children the cell forked survive their kernel otherwise)."""
    if os.getpid() != 1:
        return  # outside a sandbox kill(-1) would reach every process of the user
    # Until every child is reaped: SIGKILL takes effect asynchronously, and a killed process not yet
    # dead when the loop looked stayed a zombie holding its slot of the pids limit, so a cell that left
    # max_processes sleepers behind made the restarted kernel unable to fork (measured: EAGAIN). Bounded:
    # the host ends a session whose restart does not come back anyway.
    deadline = time.monotonic() + STRAY_REAP_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)  # again: a stray may have forked meanwhile
        try:
            while os.waitpid(-1, os.WNOHANG) != (0, 0):
                pass
        except ChildProcessError:
            return  # none left
        time.sleep(0.01)


def is_idle(message):
    return message["msg_type"] == "status" and message["content"].get("execution_state") == "idle"


def mime_bundle(data):
    """A Jupyter MIME bundle as sent to the host: text as text, JSON as JSON text, binary as base64."""
    bundle = {}
    for mime, value in data.items():
        if not isinstance(value, str):
            value = json.dumps(value)
        bundle[mime] = value
    return bundle


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
            kind = message["msg_type"]
            content = message["content"]
            if kind == "stream":
                write_frame(FRAME_STDOUT if content["name"] == "stdout" else FRAME_STDERR, content["text"].encode())
            elif kind in ("execute_result", "display_data", "update_display_data"):
                kind = "display_data" if kind == "update_display_data" else kind
                payload = {"kind": kind, "data": mime_bundle(content.get("data", {}))}
                write_frame(FRAME_DISPLAY, json.dumps(payload).encode())
            elif kind == "error":
                error = {"ename": content.get("ename", ""), "evalue": content.get("evalue", "")}
                traceback = ANSI_ESCAPE.sub("", "\n".join(content.get("traceback", [])))
                write_frame(FRAME_STDERR, (traceback + "\n").encode())
            elif is_idle(message):
                break
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

    def upload(self, command):
        parts = path_parts(command["path"])
        directory = open_directory(parts[:-1], create=True)
        try:
            name = parts[-1]
            refuse_link(directory, name)
            temporary = f"{name}.upload-{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=directory)
            target = open_at(directory, temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with open(os.path.join(INBOX_DIR, os.path.basename(command["inbox"])), "rb") as source:
                with os.fdopen(target, "wb") as copy:
                    shutil.copyfileobj(source, copy)
            # rename() never follows a link: whatever the code put at `name` meanwhile is replaced.
            try:
                os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=directory)
                raise
            size = os.stat(name, dir_fd=directory, follow_symlinks=False).st_size
        finally:
            os.close(directory)
        reply(command["nonce"], {"ok": True, "size": size})

    def download(self, command):
        parts = path_parts(command["path"])
        directory = open_directory(parts[:-1], create=False)
        try:
            # Non-blocking open: a FIFO the code left there must not hang the session.
            fd = open_at(directory, parts[-1], os.O_RDONLY | os.O_NONBLOCK)
        finally:
            os.close(directory)
        with os.fdopen(fd, "rb") as source:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise IsADirectoryError(21, "not a regular file")
            content = source.read(command["max_bytes"] + 1)
        if len(content) > command["max_bytes"]:
            reply(command["nonce"], {"ok": False, "error": "too_large", "message": f"larger than {command['max_bytes']} bytes"})
            return
        reply(command["nonce"], {"ok": True, "size": len(content)}, content)

    def list(self, command):
        files = []

        def walk(directory, prefix, depth):
            """Regular files first, then subdirectories, each sorted by name; links are never followed.
            Returns whether the listing stopped short."""
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
            subdirectories = []
            for entry in entries:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    subdirectories.append(entry.name)
                elif entry.is_file(follow_symlinks=False):
                    files.append({"path": prefix + entry.name, "size": entry.stat(follow_symlinks=False).st_size})
                    if len(files) >= command["max_entries"]:
                        return True
            if subdirectories and depth >= MAX_LIST_DEPTH:
                return True
            for name in subdirectories:
                try:
                    child = open_directory_at(directory, name)
                except (LinkRefused, OSError):
                    continue  # swapped for a link or removed since it was listed
                try:
                    if walk(child, f"{prefix}{name}/", depth + 1):
                        return True
                finally:
                    os.close(child)
            return False

        root = os.open(WORK_DIR, DIRECTORY_FLAGS | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            truncated = walk(root, "", 1)
        finally:
            os.close(root)
        reply(command["nonce"], {"ok": True, "files": files, "truncated": truncated})

    def serve(self):
        handlers = {"execute": self.execute, "upload": self.upload, "download": self.download, "list": self.list}
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
            except LinkRefused as refused:
                reply(command["nonce"], {"ok": False, "error": "link", "message": str(refused)})
            except (IsADirectoryError, NotADirectoryError, PermissionError, OSError) as error:
                reply(command["nonce"], {"ok": False, "error": "failed", "message": error.strerror or str(error)})


# Directory levels a listing descends at most. Each holds a descriptor and a Python frame: a tree the
# code made 1100 deep killed the launcher (status 134) and with it the session, on ListFiles.
MAX_LIST_DEPTH = 256

# Not O_DIRECTORY: this gVisor follows a link despite O_NOFOLLOW when O_DIRECTORY is set (measured);
# open_directory_at() checks the type instead. O_NONBLOCK: a FIFO in the path must not hang the session.
DIRECTORY_FLAGS = os.O_RDONLY | os.O_NONBLOCK


class LinkRefused(Exception):
    """A path component is a symbolic link: session files never follow one (the host answers
    INVALID_ARGUMENT with this message)."""


def path_parts(relative):
    # The host validated the path (relative, no "..", no NUL); checked again here all the same.
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if relative.startswith("/") or "\0" in relative or ".." in parts or not parts:
        raise PermissionError(errno.EPERM, "invalid path")
    return parts


def open_at(directory, name, flags, mode=0o777):
    """Opens `name` in the directory open as `directory`, never following a link there."""
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=directory)
    except OSError as error:
        if error.errno == errno.ELOOP:  # what O_NOFOLLOW says of a link
            refuse_link(directory, name)
        raise


def open_directory_at(directory, name):
    fd = open_at(directory, name, DIRECTORY_FLAGS)
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotADirectoryError(errno.ENOTDIR, f"{name!r} is not a directory")
    return fd


def refuse_link(directory, name):
    try:
        is_link = stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return
    if is_link:
        raise LinkRefused(f"{name!r} is a symbolic link; session files never follow links")


def open_directory(parts, create):
    """The directory WORK_DIR/parts, each component opened relative to the one before without following
    a link, so what the code does to the path meanwhile cannot lead the open elsewhere. `create`: make
    the missing ones (upload)."""
    directory = os.open(WORK_DIR, DIRECTORY_FLAGS | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            try:
                child = open_directory_at(directory, part)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=directory)
                child = open_directory_at(directory, part)
            os.close(directory)
            directory = child
    except BaseException:
        os.close(directory)
        raise
    return directory


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
        dropped = act_as_kernel_user()
    except OSError as error:
        diagnostic(f"cannot act as the kernel user: {error}")  # never run a kernel as uid 0
        sys.exit(1)
    common.make_undumpable()
    transport = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in ("ipc", "tcp") else "ipc"
    common.seed_matplotlib_cache()
    # The egress relay starts at boot, before the kernel exists (a warm sandbox is claimed later; the
    # host binds each cell's policy to the proxy behind the socket).
    kernel = Kernel(transport, kernel_environment(common.start_egress_relay()), dropped)
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
