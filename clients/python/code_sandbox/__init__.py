"""Client for code-sandbox: run untrusted Python/Node.js in gVisor sandboxes over gRPC.

    from code_sandbox import Sandbox

    with Sandbox() as sb:                       # CODE_SANDBOX_URL, CODE_SANDBOX_TOKEN
        print(sb.run("print(6 * 7)").stdout)
"""

from ._endpoint import DEFAULT_GRPC_PORT, Endpoint, parse_endpoint
from .errors import (
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    SandboxError,
    UnauthenticatedError,
    UnavailableError,
)
from .results import (
    Artifact,
    DeniedEgress,
    Display,
    DownloadedFile,
    EgressReport,
    ExecutionResult,
    InstallReport,
    Limits,
    ReturnValue,
    SessionFile,
    SkippedArtifact,
)
from .retry import Retry, RetryEvent
from .sandbox import Sandbox
from .session import Session, SessionFiles, SessionState

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_GRPC_PORT",
    "Artifact",
    "DeniedEgress",
    "Display",
    "DownloadedFile",
    "EgressReport",
    "Endpoint",
    "ExecutionResult",
    "InstallReport",
    "InternalError",
    "InvalidArgumentError",
    "Limits",
    "NotFoundError",
    "ResourceExhaustedError",
    "Retry",
    "RetryEvent",
    "ReturnValue",
    "Sandbox",
    "SandboxError",
    "Session",
    "SessionFile",
    "SessionFiles",
    "SessionState",
    "SkippedArtifact",
    "UnauthenticatedError",
    "UnavailableError",
    "parse_endpoint",
]
