"""Errors for calls the service refused or could not serve.

What the code itself does (non-zero exit, timeout, out of memory, ...) is never an exception: it is
a result with an ``exit_reason``.
"""

from typing import Optional


class SandboxError(Exception):
    """Base class. ``code`` is the gRPC status name ("INVALID_ARGUMENT", ...), ``details`` the
    service's message (for INVALID_ARGUMENT it names the field, e.g. "files[0].path: ...")."""

    def __init__(self, code: str, details: str):
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


class InvalidArgumentError(SandboxError):
    """The request is malformed (unknown language, bad path, a limit out of range...)."""


class UnauthenticatedError(SandboxError):
    """No token, or a wrong one (``token`` / CODE_SANDBOX_TOKEN must be the server's SANDBOX_AUTH_TOKEN)."""


class NotFoundError(SandboxError):
    """An unknown, closed or expired session, or a session file that does not exist."""


class ResourceExhaustedError(SandboxError):
    """The service is at capacity. ``retry_after_ms`` is its hint for when to try again (None if it sent none)."""

    def __init__(self, code: str, details: str, retry_after_ms: Optional[int]):
        super().__init__(code, details)
        self.retry_after_ms = retry_after_ms


class UnavailableError(SandboxError):
    """The service cannot run sandboxes right now (dockerd, runsc or an image), or cannot be reached."""


class InternalError(SandboxError):
    """The service failed in a way it does not explain to clients (details are in its log)."""
