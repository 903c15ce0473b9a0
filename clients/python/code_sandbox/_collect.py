"""Reads one ExecuteCode response stream into an ExecutionResult, calling the callbacks as it goes."""

import codecs
from typing import Callable, Optional

import grpc

from ._rpc_error import error_from_rpc
from .errors import SandboxError
from .results import Artifact, Display, ExecutionResult, result_from_proto

TextCallback = Optional[Callable[[str], None]]
DisplayCallback = Optional[Callable[[Display], None]]


class _OutputText:
    """One output stream: decodes UTF-8 across chunks (boundaries are arbitrary bytes), reports each
    piece as whole characters, keeps the whole text."""

    def __init__(self, callback: TextCallback):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._callback = callback
        self._parts = []

    def push(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if text:
            self._parts.append(text)
            if self._callback:
                self._callback(text)

    @property
    def text(self) -> str:
        return "".join(self._parts)


def collect_execution(
    call, on_stdout: TextCallback, on_stderr: TextCallback, on_display: DisplayCallback
) -> ExecutionResult:
    """Iterates ``call`` (a response iterator that is also a grpc.Call): every callback has run before
    this returns. A callback that raises cancels the call (the service then kills the sandbox, or
    interrupts the cell) and its exception propagates; so does KeyboardInterrupt."""
    stdout, stderr = _OutputText(on_stdout), _OutputText(on_stderr)
    artifacts, displays = [], []
    started = result = None
    try:
        for response in call:
            kind = response.WhichOneof("event")
            if kind == "started":
                started = response.started
            elif kind == "stdout":
                stdout.push(response.stdout.data)
            elif kind == "stderr":
                stderr.push(response.stderr.data)
            elif kind == "artifact":
                a = response.artifact
                artifacts.append(Artifact(a.name, a.mime_type, a.size, a.content))
            elif kind == "display":
                display = Display(response.display.kind, dict(response.display.data))
                displays.append(display)
                if on_display:
                    on_display(display)
            elif kind == "result":
                result = response.result
        stdout.push(b"", final=True)
        stderr.push(b"", final=True)
    except grpc.RpcError as error:
        raise error_from_rpc(error) from error
    finally:
        call.cancel()  # a no-op once the call has ended; stops the sandbox if we are leaving early
    if result is None:
        raise SandboxError("INTERNAL", "the response stream ended without a result")
    return result_from_proto(result, started, stdout.text, stderr.text, artifacts, displays)
