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
import signal
import subprocess
import sys
import time

FRAME_STDOUT = 1
FRAME_STDERR = 2
FRAME_RESULT = 3

JOB_DIR = "/sandbox/job"
WORK_DIR = "/work"
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


def child_environment():
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
    }


def relay_until_exit(child, wakeup_read_fd):
    """Forwards the child's output as frames until the child has exited and its pipes are drained.

    Pipes are drained only of what is already buffered once the child is gone: a background process
    the program left behind may keep them open forever, and it must not hold the result back.
    """
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ, FRAME_STDOUT)
    selector.register(child.stderr, selectors.EVENT_READ, FRAME_STDERR)
    selector.register(wakeup_read_fd, selectors.EVENT_READ, None)
    open_pipes = 2
    while open_pipes and child.poll() is None:
        for key, _ in selector.select():
            if key.data is None:
                os.read(wakeup_read_fd, 512)
                continue
            chunk = os.read(key.fd, READ_SIZE)
            if chunk:
                write_frame(key.data, chunk)
            else:
                selector.unregister(key.fileobj)
                open_pipes -= 1
    child.wait()
    for pipe, frame_type in ((child.stdout, FRAME_STDOUT), (child.stderr, FRAME_STDERR)):
        os.set_blocking(pipe.fileno(), False)
        while True:
            try:
                chunk = os.read(pipe.fileno(), READ_SIZE)
            except (BlockingIOError, ValueError, OSError):
                break
            if not chunk:
                break
            write_frame(frame_type, chunk)


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

    stdin_path = os.path.join(JOB_DIR, "stdin")
    started = time.monotonic()
    with open(stdin_path, "rb") as child_stdin:
        child = subprocess.Popen(
            [sys.executable, os.path.join(JOB_DIR, job["entry"])],
            stdin=child_stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=WORK_DIR,
            env=child_environment(),
            close_fds=True,
        )
    relay_until_exit(child, wakeup_read_fd)
    exit_code, signal_number = exit_status(child.returncode)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "nonce": nonce,
        "exit_code": exit_code,
        "signal": signal_number,
        "run_ms": round((time.monotonic() - started) * 1000, 3),
        "max_rss_kb": usage.ru_maxrss,
    }
    write_frame(FRAME_RESULT, json.dumps(result).encode())


main()
