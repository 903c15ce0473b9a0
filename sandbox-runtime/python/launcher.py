"""In-sandbox launcher: PID 1 of every Python sandbox container.

It waits for one JSON line on stdin (the "go" signal: the job directory is complete; it carries a
per-run nonce that the program cannot read), runs the user's
program as a child process with its own pipes, and relays what the child writes to its own stdout as
frames, ending with one result frame. The host trusts only this frame stream.

Why a relay instead of letting the child inherit stdout: the child never holds the launcher's stdout,
so nothing the user prints can be mistaken for a frame (a forged "result" is just stdout bytes), and
the end of the run is reported the moment the child exits, without waiting for the container to stop.

Frame: 1 byte type, 3 zero bytes, 4 bytes big-endian payload length, payload (the same header as
Docker's attach stream, so the host parses both with one decoder).
"""

import ctypes
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import time

FRAME_STDOUT = 1
FRAME_STDERR = 2
FRAME_RESULT = 3
FRAME_ARTIFACT = 4

JOB_DIR = "/sandbox/job"
RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
WORK_DIR = "/work"
ARTIFACTS_DIR = os.path.join(WORK_DIR, "artifacts")
READ_SIZE = 65536
PR_SET_DUMPABLE = 4


def make_undumpable():
    # Keeps the child (same uid) out of /proc/1/mem, where the run's nonce lives. This gVisor still
    # lets it open /proc/1/fd/1 and write raw bytes there, which is why the result frame carries the
    # nonce: the host rejects any result frame without it.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except OSError:
        pass


def write_frame(frame_type, payload):
    header = bytes([frame_type, 0, 0, 0]) + len(payload).to_bytes(4, "big")
    data = memoryview(header + payload)
    while data:
        written = os.write(1, data)
        data = data[written:]


def link_input_files(names):
    # Input files live on the read-only job mount; symlinks make them appear in the writable work dir
    # while any write through them still fails (EROFS/EACCES).
    for name in names:
        target = os.path.join(WORK_DIR, name)
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        os.symlink(os.path.join(JOB_DIR, "files", name), target)


MATPLOTLIB_CACHE = "/usr/share/code-sandbox/matplotlib"
MATPLOTLIB_CONFIG_DIR = "/tmp/.matplotlib"


def seed_matplotlib_cache():
    # matplotlib wants a writable config dir and would rebuild its font cache in it on every run;
    # the image ships one built at image-build time.
    if os.path.isdir(MATPLOTLIB_CACHE):
        shutil.copytree(MATPLOTLIB_CACHE, MATPLOTLIB_CONFIG_DIR, dirs_exist_ok=True)


def child_environment():
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": MATPLOTLIB_CONFIG_DIR,
    }


class FunctionResult:
    """Collects what the runner writes on the result pipe, up to a cap."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.data = bytearray()
        self.overflow = False

    def add(self, chunk):
        if len(self.data) + len(chunk) > self.max_bytes:
            self.overflow = True
        else:
            self.data += chunk

    def record(self):
        if self.overflow:
            return {"error": f"main() returned a value larger than {self.max_bytes} bytes as JSON"}
        if not self.data:
            return None
        try:
            return json.loads(self.data)
        except ValueError:
            return {"error": "main() result could not be read"}


def relay_until_exit(child, wakeup_read_fd, result_read_fd, function_result):
    """Forwards the child's output as frames until the child has exited and its pipes are drained.

    Pipes are drained only of what is already buffered once the child is gone: a background process
    the program left behind may keep them open forever, and it must not hold the result back.
    """
    sinks = {child.stdout.fileno(): FRAME_STDOUT, child.stderr.fileno(): FRAME_STDERR}
    if result_read_fd is not None:
        sinks[result_read_fd] = function_result

    def forward(fd, chunk):
        sink = sinks[fd]
        if isinstance(sink, FunctionResult):
            sink.add(chunk)
        else:
            write_frame(sink, chunk)

    selector = selectors.DefaultSelector()
    for fd in sinks:
        selector.register(fd, selectors.EVENT_READ)
    selector.register(wakeup_read_fd, selectors.EVENT_READ)
    open_pipes = len(sinks)
    while open_pipes and child.poll() is None:
        for key, _ in selector.select():
            if key.fd == wakeup_read_fd:
                os.read(wakeup_read_fd, 512)
                continue
            chunk = os.read(key.fd, READ_SIZE)
            if chunk:
                forward(key.fd, chunk)
            else:
                selector.unregister(key.fd)
                open_pipes -= 1
    child.wait()
    for fd in sinks:
        os.set_blocking(fd, False)
        while True:
            try:
                chunk = os.read(fd, READ_SIZE)
            except OSError:
                break
            if not chunk:
                break
            forward(fd, chunk)


def send_artifacts(limits):
    """Sends regular files under /work/artifacts as frames, within the count and size caps.

    Symlinks are skipped (an input-file link is not something the program produced). Returns the
    relative paths that were left out, with why.
    """
    skipped = []
    sent_count = 0
    sent_bytes = 0
    candidates = []
    for directory, subdirectories, files in os.walk(ARTIFACTS_DIR):
        subdirectories.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            candidates.append(path)
    for path in candidates:
        name = os.path.relpath(path, ARTIFACTS_DIR)
        size = os.path.getsize(path)
        if sent_count >= limits["max_count"]:
            skipped.append({"name": name, "reason": f"more than {limits['max_count']} artifacts"})
            continue
        if sent_bytes + size > limits["max_bytes"]:
            skipped.append({"name": name, "reason": f"artifacts would exceed {limits['max_bytes']} bytes"})
            continue
        with open(path, "rb") as artifact:
            content = artifact.read(limits["max_bytes"] - sent_bytes + 1)
        if sent_bytes + len(content) > limits["max_bytes"]:
            skipped.append({"name": name, "reason": f"artifacts would exceed {limits['max_bytes']} bytes"})
            continue
        header = json.dumps({"name": name, "size": len(content)}).encode()
        write_frame(FRAME_ARTIFACT, header + b"\n" + content)
        sent_count += 1
        sent_bytes += len(content)
    return skipped


def program_command(job):
    """The program process: the script itself, or the runner that calls main() (function mode)."""
    entry_path = os.path.join(JOB_DIR, job["entry"])
    if job["mode"] == "auto":
        job["mode"] = "main" if defines_main(entry_path) else "script"
    if job["mode"] == "script":
        return [sys.executable, entry_path], False
    return [sys.executable, os.path.join(RUNTIME_DIR, "runner.py"), job["entry"]], True


def defines_main(path):
    """Whether the program defines a top-level main (def, async def or assignment)."""
    import ast

    try:
        with open(path, "rb") as source:
            tree = ast.parse(source.read())
    except (SyntaxError, ValueError):
        return False  # run it as a script: Python then reports the error the usual way
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main":
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "main" for target in node.targets
        ):
            return True
    return False


def exit_status(returncode):
    # Shell convention, so "killed by signal N" reads the same here as in Docker: 128 + N.
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, 0


def main():
    make_undumpable()
    go_line = sys.stdin.buffer.readline()
    if not go_line:
        return  # the host went away before the job was ready
    nonce = json.loads(go_line)["nonce"]
    with open(os.path.join(JOB_DIR, "job.json"), "rb") as job_file:
        job = json.load(job_file)
    link_input_files(job.get("files", []))

    wakeup_read_fd, wakeup_write_fd = os.pipe()
    os.set_blocking(wakeup_write_fd, False)
    signal.set_wakeup_fd(wakeup_write_fd)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    seed_matplotlib_cache()
    command, function_mode = program_command(job)
    environment = child_environment()
    result_read_fd = result_write_fd = None
    pass_fds = ()
    if function_mode:
        result_read_fd, result_write_fd = os.pipe()
        environment["SANDBOX_RESULT_FD"] = str(result_write_fd)
        pass_fds = (result_write_fd,)
    function_result = FunctionResult(job["max_result_bytes"])

    stdin_path = os.path.join(JOB_DIR, "stdin")
    started = time.monotonic()
    with open(stdin_path, "rb") as child_stdin:
        child = subprocess.Popen(
            command,
            stdin=child_stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=WORK_DIR,
            env=environment,
            close_fds=True,
            pass_fds=pass_fds,
        )
    if result_write_fd is not None:
        os.close(result_write_fd)
    relay_until_exit(child, wakeup_read_fd, result_read_fd, function_result)
    run_ms = round((time.monotonic() - started) * 1000, 3)
    exit_code, signal_number = exit_status(child.returncode)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    skipped_artifacts = send_artifacts(job["artifacts"])
    result = {
        "nonce": nonce,
        "exit_code": exit_code,
        "signal": signal_number,
        "run_ms": run_ms,
        "max_rss_kb": usage.ru_maxrss,
        "mode": job["mode"],
        "function_result": function_result.record() if function_mode else None,
        "skipped_artifacts": skipped_artifacts,
    }
    write_frame(FRAME_RESULT, json.dumps(result).encode())


main()
