"""In-sandbox launcher: PID 1 of every Python sandbox container.

Boot (before any job exists, so a pooled sandbox does it while idle): start the program process —
runner.py, which imports the preload modules and then waits — and report READY once it is waiting.
Run: read one JSON line on stdin (the "go" signal: the job directory is complete; it carries a per-run
nonce that the program never sees), tell the runner to start, relay what it writes as frames, send the
artifacts, end with one result frame.

Why a relay instead of letting the program inherit stdout: it never holds the launcher's stdout, so
nothing it prints can be mistaken for a frame (a forged "result" is just stdout bytes), and the end of
the run is reported the moment the program ends, without waiting for the container to stop. "Ends":
the runner states its exit code and releases its pipes right before it exits (process teardown costs
milliseconds under gVisor); without that statement, the process's exit. Before the artifacts are read,
everything the program left running is killed.

Frame types, paths, caps, record fields and messages come from ../protocol.json, shared with the host
and the Node launcher; the frame writer and the boot steps shared with the session launcher are in
launcher_common.py.
"""

import importlib.util
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time

# -I keeps this directory off sys.path, so the part shared with the session launcher is loaded by path.
_common_spec = importlib.util.spec_from_file_location(
    "launcher_common", os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher_common.py")
)
common = importlib.util.module_from_spec(_common_spec)
_common_spec.loader.exec_module(common)
PROTOCOL, FRAMES, PATHS, CAPS, MESSAGES = common.PROTOCOL, common.FRAMES, common.PATHS, common.CAPS, common.MESSAGES
JOB_DIR, WORK_DIR = common.JOB_DIR, common.WORK_DIR
write_frame, diagnostic = common.write_frame, common.diagnostic

NAME_FORBIDDEN = re.compile(PROTOCOL["artifact_name_forbidden_characters"])
ARTIFACTS_DIR = os.path.join(WORK_DIR, PATHS["artifacts_dir"])
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


def link_input_files(names):
    # Input files live on the read-only job mount; symlinks make them appear in the writable work dir
    # while any write through them still fails (EROFS/EACCES). The host refuses reserved paths
    # (protocol.json reserved_input_paths), so a failure here is only reported, never fatal.
    for name in names:
        target = os.path.join(WORK_DIR, name)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.path.join(JOB_DIR, PATHS["input_files_dir"], name), target)
        except OSError as error:
            diagnostic(f"input file {name!r} not linked: {error}")


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


def artifact_name_problem(raw):
    """Why the artifact at relative path `raw` (bytes) cannot be sent under its name, or None."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        return MESSAGES["artifact_bad_name"]
    if (
        len(raw) > CAPS["artifact_name_bytes"]
        or name.count("/") >= CAPS["artifact_name_depth"]
        or NAME_FORBIDDEN.search(name)
    ):
        return MESSAGES["artifact_bad_name"]
    return None


def list_artifacts():
    """Relative paths (bytes) of the regular files under artifacts/, sorted bytewise, and whether the
    scan stopped at caps.artifact_scan_entries. Symlinks are left out: an input-file link is not
    something the program produced."""
    root = os.fsencode(ARTIFACTS_DIR)
    found = []
    seen = 0
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories + files:
            seen += 1
            if seen > CAPS["artifact_scan_entries"]:
                return sorted(found), True
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path) and os.path.isfile(path):
                found.append(os.path.relpath(path, root))
    return sorted(found), False


class Skipped:
    """Artifacts left out: all are counted, the first caps.skipped_artifacts_listed are named."""

    def __init__(self):
        self.total = 0
        self.listed = []

    def add(self, raw_name, reason):
        self.total += 1
        if len(self.listed) < CAPS["skipped_artifacts_listed"]:
            name = raw_name.decode("utf-8", "replace")[: CAPS["artifact_name_bytes"]]
            self.listed.append({"name": name, "reason": reason})


def send_artifacts(nonce, limits):
    """Sends the regular files under artifacts/ as frames, within the count and size caps."""
    max_count, max_bytes = limits["max_count"], limits["max_bytes"]
    skipped = Skipped()
    sent_count = 0
    sent_bytes = 0
    names, scan_stopped = list_artifacts()
    for raw in names:
        problem = artifact_name_problem(raw)
        if problem:
            skipped.add(raw, problem)
            continue
        if sent_count >= max_count:
            skipped.add(raw, MESSAGES["too_many_artifacts"].format(max_count=max_count))
            continue
        too_big = MESSAGES["artifacts_too_big"].format(max_bytes=max_bytes)
        path = os.path.join(os.fsencode(ARTIFACTS_DIR), raw)
        try:
            if sent_bytes + os.path.getsize(path) > max_bytes:
                skipped.add(raw, too_big)
                continue
            with open(path, "rb") as artifact:
                content = artifact.read(max_bytes - sent_bytes + 1)
        except OSError as error:
            skipped.add(raw, f"unreadable: {error.strerror}")
            continue
        if sent_bytes + len(content) > max_bytes:
            skipped.add(raw, too_big)
            continue
        header = json.dumps({"nonce": nonce, "name": raw.decode("utf-8"), "size": len(content)}).encode()
        write_frame(FRAMES["artifact"], header + b"\n" + content)
        sent_count += 1
        sent_bytes += len(content)
    if scan_stopped:
        skipped.add(b"\xe2\x80\xa6", MESSAGES["artifact_scan_stopped"].format(max_entries=CAPS["artifact_scan_entries"]))
    return skipped


def exit_status(returncode):
    # Shell convention, so "killed by signal N" reads the same here as in Docker: 128 + N.
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, 0


def from_report(final, job):
    """The fields the runner reports, checked for shape (the program could have written them)."""
    mode = final.get("mode")
    max_rss_kb = final.get("max_rss_kb")
    function_result = final.get("function_result")
    return {
        "mode": mode if mode in ("script", "main") else ("script" if job["mode"] == "script" else "main"),
        "max_rss_kb": max_rss_kb if isinstance(max_rss_kb, int) and max_rss_kb >= 0 else 0,
        "function_result": function_result if isinstance(function_result, dict) else None,
    }


def main():
    common.make_undumpable()
    preload = sys.argv[1] if len(sys.argv) > 1 else ""
    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    common.seed_matplotlib_cache()

    wakeup_read_fd, wakeup_write_fd = os.pipe()
    os.set_blocking(wakeup_write_fd, False)
    signal.set_wakeup_fd(wakeup_write_fd)
    signal.signal(signal.SIGCHLD, lambda *_: None)

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
    go = threading.Event()
    threading.Thread(target=feed_stdin, args=(child, go), daemon=True).start()
    report = Report(CAPS["boot_report_bytes"])
    if not wait_until_ready(child, report_read_fd, report):
        sys.exit(1)
    write_frame(FRAMES["ready"], b"")

    # The nonce is read only now, after the program process exists: it is never in its memory.
    go_line = sys.stdin.buffer.readline()
    if not go_line:
        return  # the host went away before a job came
    nonce = json.loads(go_line)["nonce"]
    with open(os.path.join(JOB_DIR, PATHS["manifest"]), "rb") as job_file:
        job = json.load(job_file)
    link_input_files(job["files"])
    report.max_bytes = job["max_result_bytes"] + CAPS["report_slack_bytes"]

    started = time.monotonic()
    os.write(control_write_fd, b"start\n")
    go.set()
    ended_at, exited = relay_until_end(child, wakeup_read_fd, report_read_fd, report)
    run_ms = round((ended_at - started) * 1000, 3)
    final = report.final(job["max_result_bytes"])
    exit_code, signal_number = program_status(child, exited, final)
    # Nothing of the program may run while its artifacts are read (a file swapped for a FIFO or a
    # link mid-scan could block or redirect the launcher), nor after the result.
    stop_everything(child)
    skipped = send_artifacts(nonce, job["artifacts"])
    result = {
        "nonce": nonce,
        "exit_code": exit_code,
        "signal": signal_number,
        "run_ms": run_ms,
        **from_report(final, job),
        "skipped_artifacts": skipped.listed,
        "skipped_artifacts_total": skipped.total,
    }
    write_frame(FRAMES["result"], json.dumps(result).encode())
    linger()


def stop_everything(child):
    """Kills the program and everything it left running."""
    try:
        if os.getpid() == 1:
            os.kill(-1, signal.SIGKILL)  # PID 1 of a sandbox: every other process in it
        else:
            os.killpg(child.pid, signal.SIGKILL)  # a plain process (tests): the program's group only
    except OSError:
        pass


def linger():
    """Idles until the host lets go of the sandbox (stdin closes) or kills it. Exiting right away would
    make the container stop now, and a container stop costs the host real CPU, right when the next
    execution may be starting; the host removes used sandboxes a little later instead."""
    sys.stdin.buffer.read()


main()
