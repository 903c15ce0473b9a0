"""A Python session's kernel: the ipykernel process, started as the kernel user, and the blocking
jupyter-client connected to it over ipc sockets in /tmp; its restart, which kills whatever the cell
left running; and the effective ids this launcher takes so that the kernel cannot reach its stdin,
stdout or memory (session_launcher.py's header says why).

Loaded by session_launcher.py through launcher_common.load_sibling(); the kernel process runs
ipykernel alone and imports none of this.
"""

import contextlib
import os
import queue
import signal
import subprocess
import sys
import time

import launcher_common as common  # registered in sys.modules by the launcher (-I: not on sys.path)

WORK_DIR = common.WORK_DIR
KERNEL_DIR = "/tmp/.kernel"
KERNEL_USER = common.PROTOCOL["session"]["kernel_user"]
KERNEL_READY_TIMEOUT_S = 60
KERNEL_MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "session_kernel_main.py")


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
        # What `packages` and `%pip install` put into the session (docs/packages.md): the host made
        # the directory before the sandbox started, so it is on sys.path from the kernel's boot.
        "PYTHONPATH": os.path.join(common.JOB_DIR, common.PROTOCOL["packages"]["python_dir"]),
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
                # session_kernel_main.py: ipykernel with its subprocess-output pipe on ipc, not loopback
                # TCP, so that the sandbox can be checkpointed (that file says why). run_path keeps
                # sys.path as `-m ipykernel_launcher` had it (the working directory first).
                [
                    sys.executable,
                    "-c",
                    "import runpy, sys; runpy.run_path(sys.argv.pop(1), run_name='__main__')",
                    KERNEL_MAIN,
                    "-f",
                    connection_file,
                    "--HistoryManager.enabled=False",
                ],
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
