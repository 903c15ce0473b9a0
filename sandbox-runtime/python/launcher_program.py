"""The one-shot launcher's program process: starting runner.py (before any job exists), reading its
report pipe, feeding its stdin, relaying its output as frames until it ends, its exit status, and
killing it and everything it left running.

Loaded by the launcher through launcher_common.load_sibling(); never by the program process, which is
runner.py alone (the launcher's state, such as the nonce, stays out of it).
"""

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time

import launcher_common as common  # registered in sys.modules by the launcher (-I: not on sys.path)

FRAMES, PATHS, CAPS, MESSAGES = common.FRAMES, common.PATHS, common.CAPS, common.MESSAGES
JOB_DIR, WORK_DIR = common.JOB_DIR, common.WORK_DIR
write_frame, diagnostic = common.write_frame, common.diagnostic

READ_SIZE = 65536


def program_environment(control_fd, report_fd):
    return {
        **common.BASE_ENVIRONMENT,
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        # Read and removed by runner.py before the program runs.
        "SANDBOX_CONTROL_FD": str(control_fd),
        "SANDBOX_REPORT_FD": str(report_fd),
        "SANDBOX_JOB_DIR": JOB_DIR,
    }


def watch_child_exits():
    """A pipe a byte arrives on at every SIGCHLD, so the relay's select() wakes when the program exits.
    Returns its read end."""
    wakeup_read_fd, wakeup_write_fd = os.pipe()
    os.set_blocking(wakeup_write_fd, False)
    signal.set_wakeup_fd(wakeup_write_fd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    return wakeup_read_fd


def start_program(preload):
    """Starts runner.py, which imports `preload` and waits for the start line on its control pipe.
    Returns (the process, the control pipe's write end, the report pipe's read end)."""
    control_read_fd, control_write_fd = os.pipe()
    report_read_fd, report_write_fd = os.pipe()
    child = subprocess.Popen(
        [sys.executable, os.path.join(common.RUNTIME_DIR, "runner.py"), preload],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=WORK_DIR,
        env={**program_environment(control_read_fd, report_write_fd), **common.start_egress_relay()},
        close_fds=True,
        pass_fds=(control_read_fd, report_write_fd),
        start_new_session=True,  # its own process group: see stop_everything()
    )
    os.close(control_read_fd)
    os.close(report_write_fd)
    return child, control_write_fd, report_read_fd


class Report:
    """What the runner writes on the report pipe: a ready line, then one JSON object at its exit.
    The program runs in that process and can write there too, so its content is untrusted."""

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
            return {"function_result": {"error": MESSAGES["result_too_large"].format(max=max_result_bytes)}}
        if not self.data:
            return {}
        try:
            record = json.loads(self.data)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return {"function_result": {"error": MESSAGES["result_unreadable"]}}
        return record


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
            diagnostic(f"{MESSAGES['program_died_starting']} (status {child.wait()})")
            return False
        report.add(chunk)


def feed_stdin(child, go):
    """Copies the job's stdin file into the program's stdin pipe once `go` is set. A thread, because
    it may block; started at boot, because creating a thread costs ~4 ms under gVisor's ptrace
    platform, which every run would otherwise pay between the start line and the program."""
    go.wait()
    try:
        with open(os.path.join(JOB_DIR, PATHS["stdin"]), "rb") as source:
            shutil.copyfileobj(source, child.stdin, READ_SIZE)
    except (BrokenPipeError, OSError):
        pass  # the program stopped reading; that is its business
    finally:
        try:
            child.stdin.close()
        except OSError:
            pass


def relay_until_end(child, wakeup_read_fd, report_fd, report):
    """Forwards the program's output as frames until its pipes are all closed, or at most
    caps.drain_after_exit_ms after its exit: a background process it left behind may keep the pipes
    open forever, and must not hold the result back. Returns (monotonic) when the program ended, and
    whether it has exited (False: every pipe closed first, which the runner does right before its
    exit, see runner.exit_now)."""
    sinks = {child.stdout.fileno(): FRAMES["stdout"], child.stderr.fileno(): FRAMES["stderr"], report_fd: report}
    selector = selectors.DefaultSelector()
    for fd in sinks:
        selector.register(fd, selectors.EVENT_READ)
    selector.register(wakeup_read_fd, selectors.EVENT_READ)
    open_pipes = len(sinks)
    exited_at = None
    drain_until = None
    while open_pipes:
        if drain_until is None and child.poll() is not None:
            exited_at = time.monotonic()
            drain_until = exited_at + CAPS["drain_after_exit_ms"] / 1000
        timeout = None if drain_until is None else drain_until - time.monotonic()
        if timeout is not None and timeout <= 0:
            break
        for key, _ in selector.select(timeout):
            if key.fd == wakeup_read_fd:
                os.read(wakeup_read_fd, 512)
                continue
            chunk = os.read(key.fd, READ_SIZE)
            if not chunk:
                selector.unregister(key.fd)
                open_pipes -= 1
            elif key.fd == report_fd:
                report.add(chunk)
            else:
                write_frame(sinks[key.fd], chunk)
    if exited_at is None and child.poll() is not None:
        exited_at = time.monotonic()
    return (exited_at if exited_at is not None else time.monotonic()), exited_at is not None


def program_status(child, exited, final):
    """(exit code, signal) of the run. The runner states its exit code in its final report and closes
    its pipes before it exits, so the result need not wait for the exit itself (which takes
    milliseconds under gVisor). That statement is the program process's own (so is the code it
    exits with); without one — a signal, os._exit, a crash — the exit is waited for."""
    stated = final.get("exit_code")
    if not exited and isinstance(stated, int) and not isinstance(stated, bool) and 0 <= stated <= 255:
        return stated, 0
    child.wait()
    return exit_status(child.returncode)


def exit_status(returncode):
    # Shell convention, so "killed by signal N" reads the same here as in Docker: 128 + N.
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, 0


def stop_everything(child):
    """Kills the program and everything it left running."""
    try:
        if os.getpid() == 1:
            os.kill(-1, signal.SIGKILL)  # PID 1 of a sandbox: every other process in it
        else:
            os.killpg(child.pid, signal.SIGKILL)  # a plain process (tests): the program's group only
    except OSError:
        pass
