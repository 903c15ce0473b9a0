"""The one place where a gRPC status becomes one of the package's exceptions."""

from typing import Optional

import grpc

from .errors import (
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    SandboxError,
    UnauthenticatedError,
    UnavailableError,
)

#: Trailing metadata in which the service sends its retry hint with RESOURCE_EXHAUSTED.
RETRY_AFTER_METADATA_KEY = "retry-after-ms"

_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.INTERNAL: InternalError,
}


def error_from_rpc(error: grpc.RpcError) -> SandboxError:
    """Maps a failed call (a grpc.RpcError that is also a grpc.Call) to a SandboxError."""
    status = error.code()
    code = status.name if status is not None else "UNKNOWN"
    details = error.details() or str(error)
    if status == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ResourceExhaustedError(code, details, _retry_after_ms(error))
    return _BY_CODE.get(status, SandboxError)(code, details)


def _retry_after_ms(error: grpc.RpcError) -> Optional[int]:
    for key, value in error.trailing_metadata() or ():
        if key == RETRY_AFTER_METADATA_KEY:
            try:
                milliseconds = int(value)
            except ValueError:
                return None
            return milliseconds if milliseconds >= 0 else None
    return None
