"""The session kernel's entry point: ipykernel, except for one socket.

ipykernel's IOPub thread listens on a loopback TCP port (a random one on 127.0.0.1) for the output of
subprocesses the code forks. A checkpoint of the sandbox (pausing a session) then fails under this
gVisor: "endpoint still has waiters upon save" (measured: a listening TCP endpoint that zmq polls
cannot be saved). The same pipe over an ipc (unix) socket in the kernel's runtime directory works
exactly the same for the subprocesses, and unix sockets are saved and restored like the kernel's own
channels (already ipc). So the two methods that make that pipe are replaced, then ipykernel starts as
`python -m ipykernel_launcher` would start it.
"""

import os

import zmq
from ipykernel import iostream, kernelapp

PIPE_ENDPOINT = "ipc://" + os.path.join(os.environ.get("JUPYTER_RUNTIME_DIR", "/tmp"), "iopub-pipe")


def _setup_pipe_in(self):
    ctx = self.socket.context
    # Authenticates pipe messages, as in ipykernel.
    self._pipe_uuid = os.urandom(16)
    pipe_in = ctx.socket(zmq.PULL)
    pipe_in.linger = 0
    pipe_in.bind(PIPE_ENDPOINT)
    self._pipe_port = 0
    self._pipe_in = iostream.ZMQStream(pipe_in, self.io_loop)
    self._pipe_in.on_recv(self._handle_pipe_msg)


def _setup_pipe_out(self):
    # A new context after fork, as in ipykernel.
    ctx = zmq.Context()
    pipe_out = ctx.socket(zmq.PUSH)
    pipe_out.linger = 3000
    pipe_out.connect(PIPE_ENDPOINT)
    return ctx, pipe_out


iostream.IOPubThread._setup_pipe_in = _setup_pipe_in
iostream.IOPubThread._setup_pipe_out = _setup_pipe_out

if __name__ == "__main__":
    kernelapp.launch_new_instance()
