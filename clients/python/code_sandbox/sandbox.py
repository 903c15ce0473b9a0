"""The client: one gRPC channel to the code-sandbox service."""

import json
import os
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import grpc

from ._collect import collect_execution
from ._endpoint import DEFAULT_URL, parse_endpoint
from ._proto import sandbox_pb2, sandbox_pb2_grpc
from ._rpc_error import error_from_rpc
from .results import Display, ExecutionResult, Limits
from .retry import Retry, with_retry
from .session import Session

Content = Union[bytes, str]
Files = Union[Mapping[str, Content], Iterable[Tuple[str, Content]]]
LimitsLike = Union[Limits, Mapping[str, int]]
Network = Union[Sequence[str], Mapping[str, Sequence[str]]]
#: Packages to install first, by language: ``{"python": ["pymysql==1.1.1"]}``.
Packages = Mapping[str, Sequence[str]]

#: One artifact is one message and the service allows up to 256 MiB (SANDBOX_MAX_ARTIFACT_BYTES).
DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 264 * 1024 * 1024
#: The metadata a session-routing proxy reads to send a session's calls to the replica that owns it.
SESSION_METADATA_KEY = "sandbox-session-id"


class Sandbox:
    """A client of the code-sandbox service over gRPC::

        with Sandbox(url="grpc://localhost:50051", token="...") as sb:
            result = sb.run("print(6 * 7)", on_stdout=print)

    ``url``: ``grpc://host:port`` (plaintext), ``grpcs://host:port`` (TLS), bare ``host:port``, or
    ``dns:///host:port`` (balanced round robin over every address); default CODE_SANDBOX_URL, else
    127.0.0.1:50051. It is the service's gRPC port (50051), not its HTTP port (9385).
    ``token``: the server's SANDBOX_AUTH_TOKEN; default CODE_SANDBOX_TOKEN.
    ``retry``: ``Retry(max_attempts=...)`` (or just the number) retries calls refused for capacity,
    waiting the service's retry hint. Off by default.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        *,
        retry: Union[Retry, int, None] = None,
        root_certificates: Optional[bytes] = None,
        max_receive_message_bytes: int = DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
        env: Optional[Mapping[str, str]] = None,
    ):
        env = os.environ if env is None else env
        endpoint = parse_endpoint(url or env.get("CODE_SANDBOX_URL", "").strip() or DEFAULT_URL)
        self._token = token or env.get("CODE_SANDBOX_TOKEN", "").strip() or None
        self._retry = Retry(max_attempts=retry) if isinstance(retry, int) else retry
        options = [
            ("grpc.max_receive_message_length", max_receive_message_bytes),
            # Only takes effect with several addresses (dns:/// over a headless Service): spread the calls.
            ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
        ]
        if endpoint.tls:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(endpoint.target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(endpoint.target, options=options)
        self._stub = sandbox_pb2_grpc.SandboxServiceStub(self._channel)

    def run(
        self,
        code: str,
        language: str = "python",
        *,
        on_stdout: Optional[Callable[[str], None]] = None,
        on_stderr: Optional[Callable[[str], None]] = None,
        files: Optional[Files] = None,
        limits: Optional[LimitsLike] = None,
        network: Optional[Network] = None,
        packages: Optional[Packages] = None,
        stdin: Optional[Content] = None,
        entrypoint: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
    ) -> ExecutionResult:
        """Runs ``code`` in a fresh sandbox of its own and returns its result once it has ended;
        output goes to ``on_stdout``/``on_stderr`` as the program writes it. What the program does
        (fails, times out, runs out of memory) is ``result.exit_reason``; only calls the service
        refuses raise.

        ``entrypoint``: "script" runs the code, "main" calls its ``main(**arguments)`` and returns its
        value as ``result.return_value``, "auto" is "main" when the code defines one. Default: "main"
        when ``arguments`` is given, else "script". ``network``: hosts the code may reach, e.g.
        ``["api.example.com"]`` (each within the server's allowlist); none by default. ``packages``:
        installed first from the operator's index, e.g. ``{"python": ["tabulate"]}``; the install's
        time comes out of the timeout, and ``result.install`` says what it did.
        """
        request = sandbox_pb2.ExecuteCodeRequest(
            language=language,
            code=code,
            stdin=_bytes(stdin) if stdin is not None else b"",
            files=_files(files),
            limits=_limits(limits),
            entrypoint=entrypoint or ("main" if arguments is not None else ""),
            arguments_json=json.dumps(arguments) if arguments is not None else "",
        )
        if network is not None:
            request.network.CopyFrom(_network(network))
        if packages is not None:
            request.packages.CopyFrom(_packages(packages))
        return self._execute(request, None, on_stdout, on_stderr, None)

    def session(
        self,
        language: str = "python",
        *,
        limits: Optional[LimitsLike] = None,
        idle_timeout_ms: Optional[int] = None,
        files: Optional[Files] = None,
        network: Optional[Network] = None,
        packages: Optional[Packages] = None,
    ) -> Session:
        """Starts a session: an interpreter kept alive between ``session.run`` calls (a Jupyter kernel
        for "python"). Use it as a context manager so it is closed::

            with sb.session("python") as s:
                s.run("x = 41")
                s.run("x + 1").text   # "42"
        """
        request = sandbox_pb2.CreateSessionRequest(
            language=language,
            limits=_limits(limits),
            idle_timeout_ms=idle_timeout_ms or 0,
            files=_files(files),
        )
        if network is not None:
            request.network.CopyFrom(_network(network))
        if packages is not None:
            request.packages.CopyFrom(_packages(packages))
        created = self._unary("CreateSession", request, None)
        return Session(self, created.session_id, created)

    def attach_session(self, session_id: str) -> Session:
        """A session created earlier (by this or another client), by id. No call is made: an unknown or
        ended id raises NotFoundError on first use."""
        return Session(self, session_id)

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _metadata(self, session_id: Optional[str]):
        metadata = []
        if self._token:
            metadata.append(("authorization", f"Bearer {self._token}"))
        if session_id:
            metadata.append((SESSION_METADATA_KEY, session_id))
        return metadata

    def _execute(self, request, session_id, on_stdout, on_stderr, on_display: Optional[Callable[[Display], None]]):
        def attempt() -> ExecutionResult:
            call = self._stub.ExecuteCode(request, metadata=self._metadata(session_id))
            return collect_execution(call, on_stdout, on_stderr, on_display)

        return with_retry(attempt, self._retry)

    def _unary(self, method: str, request, session_id: Optional[str]):
        def attempt():
            try:
                return getattr(self._stub, method)(request, metadata=self._metadata(session_id))
            except grpc.RpcError as error:
                raise error_from_rpc(error) from error

        return with_retry(attempt, self._retry)


def _bytes(content: Content) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)


def _files(files: Optional[Files]):
    if files is None:
        return []
    pairs = files.items() if isinstance(files, Mapping) else files
    return [sandbox_pb2.InputFile(path=path, content=_bytes(content)) for path, content in pairs]


def _limits(limits: Optional[LimitsLike]):
    if limits is None:
        return sandbox_pb2.Limits()
    values = vars(limits) if isinstance(limits, Limits) else dict(limits)
    unknown = set(values) - set(vars(Limits()))
    if unknown:
        raise TypeError(f"unknown limits: {', '.join(sorted(unknown))}")
    return sandbox_pb2.Limits(**{key: value or 0 for key, value in values.items()})


def _network(network: Network):
    allow = network["allow"] if isinstance(network, Mapping) else network
    if isinstance(allow, str):
        raise TypeError('network: a list of hosts, e.g. ["api.example.com"]')
    return sandbox_pb2.NetworkPolicy(allow=list(allow))


def _packages(packages: Packages):
    unknown = set(packages) - {"python", "nodejs"}
    if unknown:
        raise TypeError(f"packages: unknown languages {', '.join(sorted(unknown))} (python, nodejs)")
    for language, requirements in packages.items():
        if isinstance(requirements, str):
            raise TypeError(f'packages: a list of requirements per language, e.g. {{"{language}": ["tabulate"]}}')
    return sandbox_pb2.Packages(
        python=list(packages.get("python", [])), nodejs=list(packages.get("nodejs", []))
    )
