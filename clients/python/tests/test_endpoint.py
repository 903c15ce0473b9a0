import pytest

from code_sandbox import Sandbox, parse_endpoint


@pytest.mark.parametrize(
    "url, target, tls",
    [
        ("grpc://sandbox.internal:50051", "sandbox.internal:50051", False),
        ("grpc://sandbox.internal", "sandbox.internal:50051", False),
        ("grpcs://sandbox.example.com", "sandbox.example.com:443", True),
        ("grpcs://sandbox.example.com:8443/", "sandbox.example.com:8443", True),
        ("localhost:50051", "localhost:50051", False),
        ("sandbox-executor-manager", "sandbox-executor-manager:50051", False),
        ("[::1]:50051", "[::1]:50051", False),
        ("::1", "[::1]:50051", False),
        ("dns:///code-sandbox-headless.code-sandbox.svc:50051", "dns:///code-sandbox-headless.code-sandbox.svc:50051", False),
    ],
)
def test_urls_become_grpc_targets(url, target, tls):
    assert parse_endpoint(url) == (target, tls)


@pytest.mark.parametrize("url", ["http://localhost:9385", "https://sandbox.example.com"])
def test_an_http_url_is_refused_with_the_reason(url):
    with pytest.raises(ValueError, match=r"speaks gRPC.*50051.*9385 is the HTTP port"):
        Sandbox(url=url)


@pytest.mark.parametrize("url", ["", "grpc://host/path", "host:port", "host/path"])
def test_malformed_urls_are_refused(url):
    with pytest.raises(ValueError):
        parse_endpoint(url)


def test_the_environment_supplies_url_and_token():
    env = {"CODE_SANDBOX_URL": "http://localhost:9385"}
    with pytest.raises(ValueError, match="HTTP URL"):
        Sandbox(env=env)
    with Sandbox(env={"CODE_SANDBOX_URL": "grpc://127.0.0.1:1", "CODE_SANDBOX_TOKEN": "t0k3n"}) as sb:
        assert sb._metadata("s.1") == [("authorization", "Bearer t0k3n"), ("sandbox-session-id", "s.1")]
