"""In-sandbox launcher: PID 1 of every Python sandbox container.

Boot (before any job exists, so a pooled sandbox does it while idle): start the program process —
runner.py, which imports the preload modules and then waits — and report READY once it is waiting.
Run: read one JSON line on stdin (the "go" signal: the job directory is complete; it carries a per-run
nonce that the program never sees), tell the runner to start, relay what it writes as frames, send the
artifacts, end with one result frame.

Why a relay instead of letting the program inherit stdout: it never holds the launcher's stdout, so
nothing it prints can be mistaken for a frame (a forged "result" is just stdout bytes), and the end of
the run is reported the moment the program exits, without waiting for the container to stop.

Frame: 1 byte type, 3 zero bytes, 4 bytes big-endian payload length, payload (the same header as
Docker's attach stream, so the host parses both with one decoder).
"""

import ctypes
import importlib.util
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time

FRAME_STDOUT = 1
FRAME_STDERR = 2
FRAME_RESULT = 3
FRAME_ARTIFACT = 4
FRAME_READY = 5

JOB_DIR = "/sandbox/job"
RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
WORK_DIR = "/work"
ARTIFACTS_DIR = os.path.join(WORK_DIR, "artifacts")
READ_SIZE = 65536
PR_SET_DUMPABLE = 4
MATPLOTLIB_CACHE = "/usr/share/code-sandbox/matplotlib"
MATPLOTLIB_CONFIG_DIR = "/tmp/.matplotlib"


def make_undumpable():
    # Keeps the program (same uid) out of /proc/1/mem, where the run's nonce lives. This gVisor still
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


def diagnostic(message):
    sys.stderr.write(f"launcher: {message}\n")
    sys.stderr.flush()


def seed_matplotlib_cache():
    # matplotlib wants a writable config dir and would rebuild its font cache in it on every run;
    # the image ships one built at image-build time.
    if os.path.isdir(MATPLOTLIB_CACHE):
        shutil.copytree(MATPLOTLIB_CACHE, MATPLOTLIB_CONFIG_DIR, dirs_exist_ok=True)


def program_environment(control_fd, report_fd):
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": MATPLOTLIB_CONFIG_DIR,
        # Read and removed by runner.py before the program runs.
        "SANDBOX_CONTROL_FD": str(control_fd),
        "SANDBOX_REPORT_FD": str(report_fd),
    }


def start_egress_relay():
    # -I keeps the launcher's own directory off sys.path, so the sibling module is loaded by path.
    spec = importlib.util.spec_from_file_location("egress_relay", os.path.join(RUNTIME_DIR, "egress_relay.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.start()


def link_input_files(names):
    # Input files live on the read-only job mount; symlinks make them appear in the writable work dir
    # while any write through them still fails (EROFS/EACCES).
    for name in names:
        target = os.path.join(WORK_DIR, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(os.path.join(JOB_DIR, "files", name), target)


class Report:
    """What the runner writes on the report pipe: a ready line, then one JSON object at its exit."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.data = bytearray()
        self.overflow = False

    def add(self, chunk):
        if len(self.data) + len(chunk) > self.max_bytes:
            self.overflow = True
        else:
            self.data += chunk

    def take_line(self):
        newline = self.data.find(b"\n")
        if newline < 0:
            return None
        line = bytes(self.data[:newline])
        del self.data[: newline + 1]
        return line

    def final(self, max_result_bytes):
        if self.overflow:
            return {"function_result": {"error": f"main() returned a value larger than {max_result_bytes} bytes as JSON"}}
        if not self.data:
            return {}
        try:
            return json.loads(self.data)
        except ValueError:
            return {"function_result": {"error": "main() result could not be read"}}


def wait_until_ready(child, report_fd, report):
    """Blocks until the runner says it is ready (True) or dies first (False)."""
    while True:
        line = report.take_line()
        if line is not None:
            ready = json.loads(line)
            for problem in ready.get("preload_errors", []):
                diagnostic(f"preload failed: {problem}")
            return True
        chunk = os.read(report_fd, READ_SIZE)
        if not chunk:
            diagnostic(f"the program process died while starting (status {child.wait()})")
            return False
        report.add(chunk)


def feed_stdin(child):
    """Copies the job's stdin file into the program's stdin pipe (a thread: it may block)."""
    try:
        with open(os.path.join(JOB_DIR, "stdin"), "rb") as source:
            shutil.copyfileobj(source, child.stdin, READ_SIZE)
    except (BrokenPipeError, OSError):
        pass  # the program stopped reading; that is its business
    finally:
        try:
            child.stdin.close()
        except OSError:
            pass


def relay_until_exit(child, wakeup_read_fd, report_fd, report):
    """Forwards the program's output as frames until it has exited and its pipes are drained.

    Pipes are drained only of what is already buffered once the program is gone: a background process
    it left behind may keep them open forever, and it must not hold the result back.
    """
    sinks = {child.stdout.fileno(): FRAME_STDOUT, child.stderr.fileno(): FRAME_STDERR, report_fd: report}

    def forward(fd, chunk):
        sink = sinks[fd]
        if isinstance(sink, Report):
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
            if not os.path.islink(path) and os.path.isfile(path):
                candidates.append(path)
    for path in candidates:
        name = os.path.relpath(path, ARTIFACTS_DIR)
        size = os.path.getsize(path)
        if sent_count >= limits["max_count"]:
            skipped.append({"name": name, "reason": f"more than {limits['max_count']} artifacts"})
            continue
        too_big = {"name": name, "reason": f"artifacts would exceed {limits['max_bytes']} bytes"}
        if sent_bytes + size > limits["max_bytes"]:
            skipped.append(too_big)
            continue
        with open(path, "rb") as artifact:
            content = artifact.read(limits["max_bytes"] - sent_bytes + 1)
        if sent_bytes + len(content) > limits["max_bytes"]:
            skipped.append(too_big)
            continue
        header = json.dumps({"name": name, "size": len(content)}).encode()
        write_frame(FRAME_ARTIFACT, header + b"\n" + content)
        sent_count += 1
        sent_bytes += len(content)
    return skipped


def exit_status(returncode):
    # Shell convention, so "killed by signal N" reads the same here as in Docker: 128 + N.
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, 0


def main():
    make_undumpable()
    preload = sys.argv[1] if len(sys.argv) > 1 else ""
    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    seed_matplotlib_cache()

    wakeup_read_fd, wakeup_write_fd = os.pipe()
    os.set_blocking(wakeup_write_fd, False)
    signal.set_wakeup_fd(wakeup_write_fd)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    control_read_fd, control_write_fd = os.pipe()
    report_read_fd, report_write_fd = os.pipe()
    child = subprocess.Popen(
        [sys.executable, os.path.join(RUNTIME_DIR, "runner.py"), preload],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=WORK_DIR,
        env={**program_environment(control_read_fd, report_write_fd), **start_egress_relay()},
        close_fds=True,
        pass_fds=(control_read_fd, report_write_fd),
    )
    os.close(control_read_fd)
    os.close(report_write_fd)
    report = Report(64 * 1024 * 1024)
    if not wait_until_ready(child, report_read_fd, report):
        sys.exit(1)
    write_frame(FRAME_READY, b"")

    # The nonce is read only now, after the program process exists: it is never in its memory.
    go_line = sys.stdin.buffer.readline()
    if not go_line:
        return  # the host went away before a job came
    nonce = json.loads(go_line)["nonce"]
    with open(os.path.join(JOB_DIR, "job.json"), "rb") as job_file:
        job = json.load(job_file)
    link_input_files(job.get("files", []))
    report.max_bytes = job["max_result_bytes"] + 65536

    started = time.monotonic()
    os.write(control_write_fd, b"start\n")
    threading.Thread(target=feed_stdin, args=(child,), daemon=True).start()
    relay_until_exit(child, wakeup_read_fd, report_read_fd, report)
    run_ms = round((time.monotonic() - started) * 1000, 3)
    exit_code, signal_number = exit_status(child.returncode)
    final = report.final(job["max_result_bytes"])
    result = {
        "nonce": nonce,
        "exit_code": exit_code,
        "signal": signal_number,
        "run_ms": run_ms,
        "max_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "mode": final.get("mode", job["mode"]),
        "function_result": final.get("function_result"),
        "skipped_artifacts": send_artifacts(job["artifacts"]),
    }
    write_frame(FRAME_RESULT, json.dumps(result).encode())
    linger()


def linger():
    """Stops everything the program left running, then idles until the host lets go of the sandbox
    (stdin closes) or kills it. Exiting right away would make the container stop now, and a container
    stop costs the host real CPU, right when the next execution may be starting; the host removes
    used sandboxes a little later instead."""
    try:
        os.kill(-1, signal.SIGKILL)  # from PID 1: every other process in the sandbox
    except OSError:
        pass
    sys.stdin.buffer.read()


main()
