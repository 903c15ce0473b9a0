"""The program process for Python, started by the launcher before any job exists.

It imports the preload modules (so `import pandas` in the program costs nothing), says it is ready on
the report pipe, and waits on the control pipe. On "start" it runs the job: as a script (`__main__`,
like `python3 main.py`) or, in function mode, loads it as module "main" and calls main(**arguments).
The return value goes to the launcher on the report pipe, never through stdout, so nothing the
program prints can be mistaken for it. The program's namespace is fresh either way; only the module
cache holds the preloads.
"""

import json
import os
import sys

# Everything else is imported only when needed: this process is what the program runs in (and what a
# fork() in it copies), so it stays as small as a plain `python3 main.py`.

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "protocol.json"), encoding="utf-8") as f:
    PROTOCOL = json.load(f)
MESSAGES = PROTOCOL["messages"]
PATHS = PROTOCOL["paths"]
JOB_DIR = os.environ.pop("SANDBOX_JOB_DIR")
CONTROL_FD = int(os.environ.pop("SANDBOX_CONTROL_FD"))
REPORT_FD = int(os.environ.pop("SANDBOX_REPORT_FD"))
# Processes the program forks run this file's code too; only the program process itself reports.
PROGRAM_PID = os.getpid()
report = {}
# Set at boot by warm_up: /dev/null, and the identity of each pipe to the launcher (see release_pipes).
dev_null = None
launcher_pipes = {}


def send_report(record):
    data = (json.dumps(record) + "\n").encode()
    while data:
        data = data[os.write(REPORT_FD, data) :]


def preload(modules):
    import importlib

    errors = []
    for name in filter(None, (module.strip() for module in modules.split(","))):
        try:
            importlib.import_module(name)
        except Exception as error:  # a bad preload must not take the sandbox down
            errors.append(f"{name}: {type(error).__name__}: {error}")
    return errors


def wait_for_start():
    received = b""
    while not received.endswith(b"\n"):
        chunk = os.read(CONTROL_FD, 64)
        if not chunk:
            os._exit(0)  # the launcher is gone: no job will come
        received += chunk
    os.close(CONTROL_FD)


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
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "main" for t in node.targets):
            return True
    return False


def print_program_traceback():
    """The program's own error, shown as Python would, without the runner's frames."""
    import traceback

    exc_type, exc, tb = sys.exc_info()
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    traceback.print_exception(exc_type, exc, tb)
    return exc_type, exc


def fail(message):
    print(message, file=sys.stderr, flush=True)
    report["function_result"] = {"error": message}
    sys.exit(1)


def type_name(value):
    return "null" if value is None else type(value).__name__


def run_as_module(path, name):
    """Runs the file as a fresh module `name` ("__main__" for a script, as `python3 main.py` does;
    "main" in function mode, as `import main` would). runpy would do the same at ~30 ms of imports."""
    module = type(sys)(name)
    module.__file__ = path
    module.__builtins__ = __builtins__
    sys.modules[name] = module
    with open(path, "rb") as source:
        code = compile(source.read(), path, "exec")
    exec(code, module.__dict__)  # running the user's program is the point
    return module


def run_function(entry_path):
    with open(os.path.join(JOB_DIR, PATHS["arguments"]), encoding="utf-8") as arguments_file:
        arguments = json.load(arguments_file)
    module = run_as_module(entry_path, "main")
    entry = module.__dict__.get("main")
    if not callable(entry):
        fail(MESSAGES["no_main"].format(signature="`def main(**kwargs)`"))
    value = entry(**arguments)
    if hasattr(value, "__await__"):  # async def main
        import asyncio

        async def await_value():
            return await value

        value = asyncio.run(await_value())
    # Integers are written exactly whatever their size; the host refuses those beyond 2^53 (JSON
    # clients would round them). NaN and Infinity have no JSON form at all.
    try:
        encoded = json.dumps(value, allow_nan=False)
    except ValueError as error:
        if "Out of range float" in str(error):
            fail(MESSAGES["non_finite"])
        fail(MESSAGES["not_json"].format(type=type_name(value), error=error))
    except TypeError as error:
        fail(MESSAGES["not_json"].format(type=type_name(value), error=error))
    report["function_result"] = {"present": True, "value_json": encoded, "type": type_name(value)}


def run_job():
    """Runs the job; returns the exit status Python itself would have exited with."""
    with open(os.path.join(JOB_DIR, PATHS["manifest"]), encoding="utf-8") as job_file:
        job = json.load(job_file)
    entry_path = os.path.join(JOB_DIR, job["entry"])
    mode = job["mode"]
    if mode == "auto":
        mode = "main" if defines_main(entry_path) else "script"
    report["mode"] = mode
    sys.argv = [entry_path]
    sys.path[0] = JOB_DIR  # as for `python3 main.py`; the runner's own directory is not importable
    # What the request installed (docs/packages.md), ahead of the image's own packages. Added only now,
    # after the install: a directory on sys.path before it existed would stay unsearched (importlib caches).
    packages_dir = os.path.join(JOB_DIR, PROTOCOL["packages"]["python_dir"])
    if os.path.isdir(packages_dir):
        sys.path.insert(1, packages_dir)
    try:
        if mode == "script":
            run_as_module(entry_path, "__main__")
        else:
            run_function(entry_path)
    except SystemExit as exit_request:
        return exit_status(exit_request.code)
    except BaseException:
        exc_type, exc = print_program_traceback()
        if mode != "script":
            error = f"{exc_type.__name__}: {exc}"[: PROTOCOL["caps"]["error_message_bytes"]]
            report["function_result"] = {"error": MESSAGES["main_raised"].format(error=error)}
        return 1
    return 0


def exit_status(code):
    """What `sys.exit(code)` makes the process exit with."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


writable_files = None


def track_writable_files():
    """Remembers files the program opens for writing, so exit_now can flush them."""
    global writable_files
    import builtins
    import io
    import weakref

    writable_files = weakref.WeakSet()
    real_open = io.open

    def open(file, mode="r", *args, **kwargs):  # noqa: A001 - stands in for the builtin
        opened = real_open(file, mode, *args, **kwargs)
        if any(flag in mode for flag in "wax+"):
            writable_files.add(opened)
        return opened

    builtins.open = io.open = open


def exit_now(status):
    """Does what a normal interpreter exit does that a program can observe — wait for its non-daemon
    threads, run its atexit handlers, flush its open files and stdio — then skips the rest of
    finalisation, which with numpy/pandas loaded costs hundreds of milliseconds under gVisor and which
    nothing outside this process can see."""
    try:
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
        import atexit

        atexit._run_exitfuncs()
        for opened in list(writable_files or ()):
            try:
                opened.flush()
            except Exception:
                pass
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        if os.getpid() == PROGRAM_PID:
            import resource

            # Peak RSS of this, the program's process: measured here in both languages alike.
            report["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            report["exit_code"] = status
            if still_ours(REPORT_FD):  # the program may have closed it and reused the number
                try:
                    send_report(report)
                except OSError:
                    pass
            release_pipes()
        os._exit(status)


def pipe_identity(fd):
    """Which open file `fd` is (device, inode), or None when it is closed."""
    try:
        stat = os.fstat(fd)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def still_ours(fd):
    return pipe_identity(fd) == launcher_pipes[fd]


def release_pipes():
    """The run is over: with every pipe to the launcher closed and the exit code stated, the launcher
    reports the end now instead of after this process's exit (milliseconds under gVisor). /dev/null
    takes each pipe's place in one step (dup2), so a daemon thread still printing writes nowhere
    instead of failing. A process the program left behind still holds copies; then the exit decides."""
    for fd in (1, 2, REPORT_FD):
        if still_ours(fd):
            try:
                os.dup2(dev_null, fd)
            except OSError:
                pass


def warm_up():
    """Work every run needs, done at boot instead (before READY, so a pooled sandbox does it while
    idle): under gVisor's ptrace platform a module import or the first pass through the compiler
    costs milliseconds of page faults and syscalls, which would otherwise be paid between the start
    line and the program. Nothing here is visible to the program but `resource` in sys.modules."""
    global dev_null, launcher_pipes
    __import__("resource")  # exit_now's import then finds it in sys.modules
    dev_null = os.open(os.devnull, os.O_WRONLY)  # not inheritable: no child of the program gets it
    launcher_pipes = {fd: pipe_identity(fd) for fd in (1, 2, REPORT_FD)}
    track_writable_files()
    exec(compile("warm = [str(n) for n in range(3)]\n", "<warm-up>", "exec"), {})


def main():
    errors = preload(sys.argv[1] if len(sys.argv) > 1 else "")
    warm_up()
    send_report({"ready": True, "preload_errors": errors})
    wait_for_start()
    exit_now(run_job())


main()
