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
launcher_common.py; the program process is in launcher_program.py, the artifacts in
launcher_artifacts.py.
"""

import importlib.util
import json
import os
import sys
import threading
import time

# -I keeps this directory off sys.path, so the part shared with the session launcher is loaded by path,
# and registered so that the modules it loads (load_sibling) share this one instance.
_common_spec = importlib.util.spec_from_file_location(
    "launcher_common", os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher_common.py")
)
common = importlib.util.module_from_spec(_common_spec)
sys.modules["launcher_common"] = common
_common_spec.loader.exec_module(common)
artifacts = common.load_sibling("launcher_artifacts")
program = common.load_sibling("launcher_program")
FRAMES, PATHS, CAPS = common.FRAMES, common.PATHS, common.CAPS
JOB_DIR, WORK_DIR = common.JOB_DIR, common.WORK_DIR
write_frame, diagnostic = common.write_frame, common.diagnostic


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
    os.makedirs(artifacts.ARTIFACTS_DIR, exist_ok=True)
    common.seed_matplotlib_cache()

    wakeup_read_fd = program.watch_child_exits()
    child, control_write_fd, report_read_fd = program.start_program(preload)
    go = threading.Event()
    threading.Thread(target=program.feed_stdin, args=(child, go), daemon=True).start()
    report = program.Report(CAPS["boot_report_bytes"])
    if not program.wait_until_ready(child, report_read_fd, report):
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
    ended_at, exited = program.relay_until_end(child, wakeup_read_fd, report_read_fd, report)
    run_ms = round((ended_at - started) * 1000, 3)
    final = report.final(job["max_result_bytes"])
    exit_code, signal_number = program.program_status(child, exited, final)
    # Nothing of the program may run while its artifacts are read (a file swapped for a FIFO or a
    # link mid-scan could block or redirect the launcher), nor after the result.
    program.stop_everything(child)
    skipped = artifacts.send_artifacts(nonce, job["artifacts"])
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


def linger():
    """Idles until the host lets go of the sandbox (stdin closes) or kills it. Exiting right away would
    make the container stop now, and a container stop costs the host real CPU, right when the next
    execution may be starting; the host removes used sandboxes a little later instead."""
    sys.stdin.buffer.read()


main()
