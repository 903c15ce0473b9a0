import threading
import time

import pytest

from code_sandbox import (
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    Retry,
    Sandbox,
    UnauthenticatedError,
    UnavailableError,
)


def test_invalid_argument_names_the_field(sb):
    with pytest.raises(InvalidArgumentError) as raised:
        sb.run("print(1)", "cobol")
    assert raised.value.code == "INVALID_ARGUMENT"
    with pytest.raises(InvalidArgumentError, match=r"files\[0\]\.path"):
        sb.run("print(1)", files={"../escape.txt": "x"})


def test_unauthenticated_without_the_token_or_with_a_wrong_one(service):
    with Sandbox(url=service["url"], env={}) as anonymous:
        with pytest.raises(UnauthenticatedError):
            anonymous.run("print(1)")
    with Sandbox(url=service["url"], token="not-the-token-0123456789") as wrong:
        with pytest.raises(UnauthenticatedError):
            wrong.session("python")


def test_not_found_for_an_unknown_session(sb):
    unknown = sb.attach_session("no-such-replica.0123456789abcdef")
    with pytest.raises(NotFoundError):
        unknown.run("1")
    with pytest.raises(NotFoundError):
        unknown.files.list()
    # Closing one that has ended is not an error: leaving a `with` block must not raise.
    unknown.close()


def test_unavailable_when_nothing_listens(service):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Sandbox(url=f"grpc://127.0.0.1:{port}", env={}) as nowhere:
        with pytest.raises(UnavailableError):
            nowhere.run("print(1)")


def _occupy_the_slot(sb, seconds):
    """Starts a run in a thread; returns once it printed, i.e. holds the service's only slot."""
    busy = threading.Event()
    outcome = {}

    def run():
        outcome["result"] = sb.run(
            f'import time\nprint("busy", flush=True)\ntime.sleep({seconds})', on_stdout=lambda _: busy.set()
        )

    thread = threading.Thread(target=run)
    thread.start()
    assert busy.wait(30), "the slot-holding run did not start"
    return thread, outcome


def test_resource_exhausted_carries_the_retry_hint_and_the_opt_in_retry_waits_for_it(sb, service):
    thread, outcome = _occupy_the_slot(sb, 2.5)
    try:
        with pytest.raises(ResourceExhaustedError) as raised:
            sb.run('print("never")')
        hint = raised.value.retry_after_ms
        assert hint is not None and hint > 0

        retries = []
        with Sandbox(url=service["url"], token=service["token"], retry=Retry(6, on_retry=retries.append)) as patient:
            started = time.monotonic()
            result = patient.run('print("after waiting")')
            elapsed = time.monotonic() - started
        assert result.ok and result.stdout == "after waiting\n"
        assert len(retries) >= 1
        assert [r.attempt for r in retries] == list(range(1, len(retries) + 1))
        assert all(r.delay_ms == r.error.retry_after_ms == hint for r in retries)
        # It really waited out each hint before trying again.
        assert elapsed >= len(retries) * hint / 1000
    finally:
        thread.join()
    assert outcome["result"].ok
