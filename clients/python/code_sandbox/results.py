"""What the service returns: execution results, artifacts, displays, session files."""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

PNG = "image/png"


@dataclass(frozen=True)
class Limits:
    """Resource limits. In a request, None takes the server's default; a value above the server's
    ceiling is lowered to it. In a result: the limits that were in force."""

    timeout_ms: Optional[int] = None
    memory_bytes: Optional[int] = None
    cpu_millicores: Optional[int] = None
    max_processes: Optional[int] = None
    output_bytes: Optional[int] = None


@dataclass(frozen=True)
class Artifact:
    """A file the program left under artifacts/: ``name`` is relative to it and safe to save under."""

    name: str
    mime_type: str
    size: int
    content: bytes = field(repr=False)

    def _repr_png_(self) -> Optional[bytes]:
        return self.content if self.mime_type == PNG else None


@dataclass(frozen=True)
class Display:
    """Rich output of a session cell, as in Jupyter: ``kind`` is "execute_result" (the value of the
    last expression) or "display_data" (display(), plots); ``data`` maps MIME type to bytes."""

    kind: str
    data: Dict[str, bytes] = field(repr=False)

    @property
    def text(self) -> Optional[str]:
        """``text/plain``, decoded."""
        return self._text("text/plain")

    @property
    def html(self) -> Optional[str]:
        return self._text("text/html")

    @property
    def png(self) -> Optional[bytes]:
        """``image/png``: the PNG file's bytes."""
        return self.data.get(PNG)

    def _text(self, mime_type: str) -> Optional[str]:
        value = self.data.get(mime_type)
        return value.decode("utf-8", "replace") if value is not None else None

    # Jupyter shows a Display as what it is.
    def _repr_png_(self) -> Optional[bytes]:
        return self.png

    def _repr_html_(self) -> Optional[str]:
        return self.html

    def __repr__(self) -> str:
        return f"Display(kind={self.kind!r}, mime_types={sorted(self.data)!r})"


@dataclass(frozen=True)
class ReturnValue:
    """What main() returned: ``value`` parsed from ``json``; ``type`` in the program's language."""

    value: Any
    json: str
    type: str


@dataclass(frozen=True)
class DeniedEgress:
    host: str
    port: int
    reason: str


@dataclass(frozen=True)
class EgressReport:
    """What went through the execution's egress proxy."""

    requests: int
    denied: int
    bytes: int
    denied_attempts: List[DeniedEgress]


@dataclass(frozen=True)
class InstallReport:
    """What installing the run's ``packages`` did. ``outcome``: "ok", "failed", "timeout" or
    "too_large"; anything but "ok" makes the exit_reason "install_error"."""

    packages: List[str]
    outcome: str
    duration_ms: int
    cache_hits: int
    cache_misses: int
    #: pip's or npm's output and the package mirror's refusals (the last 64 KiB).
    output: str = field(repr=False)


@dataclass(frozen=True)
class SkippedArtifact:
    name: str
    reason: str


@dataclass(frozen=True)
class ExecutionResult:
    """The outcome of one run or one session cell. What the program did is ``exit_reason``: "ok",
    "error", "timeout", "oom", "output_limit", "cancelled", "sandbox_error" or "install_error"."""

    execution_id: str
    exit_reason: str
    exit_code: int
    #: Signal that ended the program (9 when the service killed it, 2 for an interrupted cell); 0 if none.
    signal: int
    detail: str
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    return_value: Optional[ReturnValue]
    artifacts: List[Artifact]
    skipped_artifacts: List[SkippedArtifact]
    skipped_artifacts_total: int
    displays: List[Display]
    duration_ms: int
    queue_wait_ms: int
    total_ms: int
    peak_memory_kb: int
    limits: Limits
    egress: Optional[EgressReport]
    sandbox_id: str
    warm_start: bool
    session_id: Optional[str]
    execution_count: Optional[int]
    interpreter_restarted: bool
    #: Present when the run asked for ``packages``.
    install: Optional[InstallReport] = None

    @property
    def ok(self) -> bool:
        return self.exit_reason == "ok"

    @property
    def value(self) -> Optional[Display]:
        """A session cell's value: its ``execute_result`` display."""
        return next((d for d in self.displays if d.kind == "execute_result"), None)

    @property
    def text(self) -> Optional[str]:
        """A session cell's value as text (``text/plain`` of its execute_result), e.g. "42"."""
        value = self.value
        return value.text if value else None

    @property
    def images(self) -> List[bytes]:
        """Every PNG the cell displayed (plots), in order."""
        return [d.png for d in self.displays if d.png is not None]

    # In Jupyter a result shows as its value's HTML (a DataFrame), else its first plot.
    def _repr_html_(self) -> Optional[str]:
        value = self.value
        return value.html if value else None

    def _repr_png_(self) -> Optional[bytes]:
        images = self.images
        return images[0] if images else None


@dataclass(frozen=True)
class SessionFile:
    """A file in a session's working directory."""

    path: str
    size: int


@dataclass(frozen=True)
class DownloadedFile:
    path: str
    mime_type: str
    size: int
    content: bytes = field(repr=False)


def limits_from_proto(limits) -> Limits:
    return Limits(
        timeout_ms=limits.timeout_ms,
        memory_bytes=limits.memory_bytes,
        cpu_millicores=limits.cpu_millicores,
        max_processes=limits.max_processes,
        output_bytes=limits.output_bytes,
    )


def result_from_proto(result, started, stdout: str, stderr: str, artifacts, displays) -> ExecutionResult:
    """Builds the result from the stream's ``result`` message and what came before it."""
    return_value = None
    if result.HasField("return_value") and result.return_value.present:
        raw = result.return_value.value_json
        return_value = ReturnValue(json.loads(raw), raw, result.return_value.type)
    egress = None
    if result.HasField("egress"):
        egress = EgressReport(
            requests=result.egress.requests,
            denied=result.egress.denied,
            bytes=result.egress.bytes,
            denied_attempts=[DeniedEgress(d.host, d.port, d.reason) for d in result.egress.denied_attempts],
        )
    install = None
    if result.HasField("install"):
        install = InstallReport(
            packages=list(result.install.packages),
            outcome=result.install.outcome,
            duration_ms=result.install.duration_ms,
            cache_hits=result.install.cache_hits,
            cache_misses=result.install.cache_misses,
            output=result.install.output,
        )
    return ExecutionResult(
        execution_id=result.execution_id,
        exit_reason=result.exit_reason,
        exit_code=result.exit_code,
        signal=result.signal,
        detail=result.detail,
        stdout=stdout,
        stderr=stderr,
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        return_value=return_value,
        artifacts=artifacts,
        skipped_artifacts=[SkippedArtifact(s.name, s.reason) for s in result.skipped_artifacts],
        skipped_artifacts_total=result.skipped_artifacts_total,
        displays=displays,
        duration_ms=result.duration_ms,
        queue_wait_ms=result.queue_wait_ms,
        total_ms=result.total_ms,
        peak_memory_kb=result.peak_memory_kb,
        limits=limits_from_proto(result.limits),
        egress=egress,
        sandbox_id=started.sandbox_id if started is not None else "",
        warm_start=started.warm_start if started is not None else False,
        session_id=result.session_id or None,
        execution_count=result.execution_count if result.session_id else None,
        interpreter_restarted=result.interpreter_restarted,
        install=install,
    )
