"""A stateful interpreter in a sandbox of its own, and its working directory."""

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, List, Optional, Union

from ._proto import sandbox_pb2
from .errors import NotFoundError
from .results import Display, DownloadedFile, ExecutionResult, Limits, SessionFile, limits_from_proto

if TYPE_CHECKING:
    from .sandbox import Sandbox


@dataclass(frozen=True)
class SessionState:
    """A session's state as ``pause()`` and ``resume()`` answer it."""

    state: str
    """"running" or "paused"."""
    checkpoint_bytes: int
    resumed: bool
    """This call resumed the session, taking ``resume_ms``."""
    resume_ms: int


def _state_from_proto(response) -> SessionState:
    return SessionState(response.state, response.checkpoint_bytes, response.resumed, response.resume_ms)


class SessionFiles:
    """A session's working directory (/work). Paths are relative ("data/in.csv"; no "..", no leading
    "/"). Calls wait for a running cell, as cells do."""

    def __init__(self, sandbox: "Sandbox", session_id: str):
        self._sandbox = sandbox
        self._session_id = session_id

    def write(self, path: str, content: Union[bytes, str]) -> int:
        """Writes a file (replacing one of the same path); returns its size."""
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        request = sandbox_pb2.UploadFileRequest(session_id=self._session_id, path=path, content=data)
        return self._sandbox._unary("UploadFile", request, self._session_id).size

    def read(self, path: str) -> bytes:
        """A file's bytes. A missing file is NotFoundError."""
        return self.download(path).content

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read(path).decode(encoding)

    def download(self, path: str) -> DownloadedFile:
        """A file with its MIME type (from the extension) and size."""
        request = sandbox_pb2.DownloadFileRequest(session_id=self._session_id, path=path)
        response = self._sandbox._unary("DownloadFile", request, self._session_id)
        return DownloadedFile(response.path, response.mime_type, response.size, response.content)

    def list(self) -> List[SessionFile]:
        """The regular files in the working directory (at most 1000; symlinks are left out)."""
        request = sandbox_pb2.ListFilesRequest(session_id=self._session_id)
        response = self._sandbox._unary("ListFiles", request, self._session_id)
        return [SessionFile(f.path, f.size) for f in response.files]


class Session:
    """Each ``run`` is the next cell, with the variables, imports and files of the earlier ones (a
    Jupyter kernel for Python, a persistent context for Node.js). Use it as a context manager, or
    call ``close()``; otherwise the service closes it after its idle timeout."""

    def __init__(self, sandbox: "Sandbox", session_id: str, created=None):
        self._sandbox = sandbox
        self.id = session_id
        #: Empty for a session attached by id (Sandbox.attach_session).
        self.language = created.language if created is not None else ""
        self.limits = limits_from_proto(created.limits) if created is not None else Limits()
        self.idle_timeout_ms = created.idle_timeout_ms if created is not None else None
        self.expires_at = (
            datetime.fromtimestamp(created.expires_at_ms / 1000, tz=timezone.utc) if created is not None else None
        )
        self.warm_start = created.warm_start if created is not None else False
        self.files = SessionFiles(sandbox, session_id)
        self._closed = False

    def run(
        self,
        code: str,
        *,
        on_stdout: Optional[Callable[[str], None]] = None,
        on_stderr: Optional[Callable[[str], None]] = None,
        on_display: Optional[Callable[[Display], None]] = None,
        timeout_ms: Optional[int] = None,
        output_bytes: Optional[int] = None,
    ) -> ExecutionResult:
        """Runs ``code`` as the next cell. Its value is ``result.text`` (and ``result.value``), plots
        are ``result.images`` (PNG bytes). A cell past ``timeout_ms`` is interrupted and the session
        keeps its variables."""
        request = sandbox_pb2.ExecuteCodeRequest(
            session_id=self.id,
            code=code,
            limits=sandbox_pb2.Limits(timeout_ms=timeout_ms or 0, output_bytes=output_bytes or 0),
        )
        return self._sandbox._execute(request, self.id, on_stdout, on_stderr, on_display)

    def pause(self) -> SessionState:
        """Pauses the session now: the service checkpoints its whole sandbox (variables, modules, files)
        and stops its container, so it holds no memory. Any later call resumes it (under a second);
        idle sessions are paused by the service itself. Where the service cannot checkpoint, the answer
        is ``state="running"`` and nothing changed."""
        request = sandbox_pb2.PauseSessionRequest(session_id=self.id)
        return _state_from_proto(self._sandbox._unary("PauseSession", request, self.id))

    def resume(self) -> SessionState:
        """Starts a paused session again now (a running one is answered as it is)."""
        request = sandbox_pb2.ResumeSessionRequest(session_id=self.id)
        return _state_from_proto(self._sandbox._unary("ResumeSession", request, self.id))

    def close(self) -> None:
        """Ends the session and removes its sandbox. A session that has already ended (closed, idle,
        expired) counts as closed: closing is idempotent, so leaving a ``with`` block never raises
        because the service ended the session first."""
        if self._closed:
            return
        try:
            self._sandbox._unary("CloseSession", sandbox_pb2.CloseSessionRequest(session_id=self.id), self.id)
        except NotFoundError:
            pass
        self._closed = True

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, language={self.language!r})"
