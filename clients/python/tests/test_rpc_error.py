"""The status → exception mapping and the retry loop, without a service."""

import grpc
import pytest

from code_sandbox import (
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    Retry,
    SandboxError,
    UnauthenticatedError,
    UnavailableError,
)
from code_sandbox._rpc_error import error_from_rpc
from code_sandbox.retry import with_retry


class FailedCall(grpc.RpcError):
    """What grpcio raises for a failed call: an RpcError that is also a grpc.Call."""

    def __init__(self, code, details, trailers=()):
        self._code, self._details, self._trailers = code, details, trailers

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailers


@pytest.mark.parametrize(
    "status, exception",
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
        (grpc.StatusCode.UNAUTHENTICATED, UnauthenticatedError),
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhaustedError),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError),
        (grpc.StatusCode.INTERNAL, InternalError),
        (grpc.StatusCode.PERMISSION_DENIED, SandboxError),
    ],
)
def test_each_status_maps_to_its_exception(status, exception):
    error = error_from_rpc(FailedCall(status, "files[0].path: must be relative"))
    assert type(error) is exception
    assert (error.code, error.details) == (status.name, "files[0].path: must be relative")


def test_the_retry_hint_comes_from_the_trailing_metadata():
    hinted = error_from_rpc(FailedCall(grpc.StatusCode.RESOURCE_EXHAUSTED, "full", (("retry-after-ms", "2000"),)))
    assert hinted.retry_after_ms == 2000
    assert error_from_rpc(FailedCall(grpc.StatusCode.RESOURCE_EXHAUSTED, "full")).retry_after_ms is None
    garbled = error_from_rpc(FailedCall(grpc.StatusCode.RESOURCE_EXHAUSTED, "full", (("retry-after-ms", "soon"),)))
    assert garbled.retry_after_ms is None


def exhausted(retry_after_ms):
    return ResourceExhaustedError("RESOURCE_EXHAUSTED", "queue full", retry_after_ms)


def test_retry_waits_the_hint_then_succeeds_and_gives_up_after_max_attempts():
    calls, events = [], []

    def refused_twice():
        calls.append(1)
        if len(calls) < 3:
            raise exhausted(20)
        return "ran"

    assert with_retry(refused_twice, Retry(3, on_retry=events.append)) == "ran"
    assert [(e.attempt, e.delay_ms) for e in events] == [(1, 20), (2, 20)]

    calls.clear()
    with pytest.raises(ResourceExhaustedError):
        with_retry(refused_twice, Retry(2))
    assert len(calls) == 2


def test_retry_leaves_other_errors_and_too_long_hints_alone():
    def invalid():
        raise InvalidArgumentError("INVALID_ARGUMENT", "language")

    with pytest.raises(InvalidArgumentError):
        with_retry(invalid, Retry(5))
    events = []

    def too_long():
        raise exhausted(60_000)

    with pytest.raises(ResourceExhaustedError):
        with_retry(too_long, Retry(5, max_delay_ms=10_000, on_retry=events.append))
    assert events == []


def test_retry_backs_off_without_a_hint():
    events = []

    def unhinted():
        raise exhausted(None)

    with pytest.raises(ResourceExhaustedError):
        with_retry(unhinted, Retry(3, fallback_delay_ms=5, on_retry=events.append))
    assert [e.delay_ms for e in events] == [5, 10]
