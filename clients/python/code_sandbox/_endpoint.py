"""Where to connect: the client URL rules, shared by every entry point of the package."""

import re
from typing import NamedTuple

#: The service's gRPC port when a URL names none (the HTTP port, 9385, is a different protocol).
DEFAULT_GRPC_PORT = 50051
#: Port for ``grpcs://host`` without one: TLS is usually terminated by an ingress on 443.
DEFAULT_GRPCS_PORT = 443
#: Where the service listens out of the box.
DEFAULT_URL = f"127.0.0.1:{DEFAULT_GRPC_PORT}"

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


class Endpoint(NamedTuple):
    """A gRPC target (``host:port``, ``[v6]:port``, or a ``dns:``/``unix:`` target) and whether to use TLS."""

    target: str
    tls: bool


def parse_endpoint(url: str) -> Endpoint:
    """Parses ``grpc://host:port`` (plaintext), ``grpcs://host:port`` (TLS), bare ``host:port``
    (plaintext), or a gRPC target with its own scheme (``dns:///host:port``, ``unix:/path``).

    An ``http(s)://`` URL raises ValueError with the reason: the SDK speaks gRPC on the service's
    gRPC port (default 50051), not the REST API on its HTTP port.
    """
    text = url.strip()
    if not text:
        raise ValueError("code-sandbox: the URL is empty; expected grpc://host:port")
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else None
    if scheme in ("http", "https"):
        raise ValueError(
            f'code-sandbox: "{text}" is an HTTP URL, but this SDK speaks gRPC: give the service\'s gRPC '
            f"endpoint, e.g. grpc://host:{DEFAULT_GRPC_PORT} (plaintext) or grpcs://host:port (TLS). "
            f"The gRPC port defaults to {DEFAULT_GRPC_PORT}; 9385 is the HTTP port."
        )
    if scheme in ("grpc", "grpcs"):
        tls = scheme == "grpcs"
        authority = re.sub(r"^//", "", text[len(scheme) + 1 :]).rstrip("/")
        if not authority or "/" in authority:
            raise ValueError(f'code-sandbox: "{text}" must be {scheme}://host[:port] with no path')
        return Endpoint(_with_port(authority, DEFAULT_GRPCS_PORT if tls else DEFAULT_GRPC_PORT), tls)
    # "host:port" and a bare IPv6 literal look like a scheme too; only a scheme followed by "/" is one.
    if scheme and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/", text):
        return Endpoint(text, False)
    if "/" in text:
        raise ValueError(f'code-sandbox: "{text}" is not host:port')
    return Endpoint(_with_port(text, DEFAULT_GRPC_PORT), False)


def _with_port(authority: str, port: int) -> str:
    if authority.startswith("["):
        return authority if re.search(r"\]:\d+$", authority) else f"{authority}:{port}"
    colons = authority.count(":")
    if colons > 1:
        return f"[{authority}]:{port}"  # an unbracketed IPv6 literal has no port
    if colons == 1:
        if not re.search(r":\d+$", authority):
            raise ValueError(f'code-sandbox: "{authority}" has no valid port')
        return authority
    return f"{authority}:{port}"
