#!/usr/bin/env python3
"""ExecuteCode from Python with stock grpcio: what a RAG app would write.

Streams the program's stdout/stderr to this terminal as they arrive, saves artifacts, prints the
result as JSON on stderr, and exits with the program's exit code (2 when the call itself failed).

    examples/python/generate.sh                      # once: protoc + grpc_python_plugin
    python3 examples/python/sandbox_client.py 'print("hello")'
    python3 examples/python/sandbox_client.py --language nodejs --arguments '{"x": 2}' \\
        'function main(args) { return args.x * 21 }'
    python3 examples/python/sandbox_client.py - < script.py

Server address: --address or SANDBOX_ADDRESS (default 127.0.0.1:50051); token: SANDBOX_TOKEN.
Needs Debian's python3-grpcio and python3-protobuf (installed by `npm run setup`).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.environ.get("SANDBOX_STUBS_DIR", os.path.join(os.path.dirname(__file__), "generated")))

import grpc  # noqa: E402
from sandbox.v1 import sandbox_pb2, sandbox_pb2_grpc  # noqa: E402


def execute(stub, request, token=None, timeout_s=None):
    """Yields each ExecuteCodeResponse as the server sends it (started, output chunks, artifacts, result)."""
    metadata = [("authorization", f"Bearer {token}")] if token else None
    yield from stub.ExecuteCode(request, metadata=metadata, timeout=timeout_s)


def build_request(args):
    code = sys.stdin.read() if args.code == "-" else args.code
    request = sandbox_pb2.ExecuteCodeRequest(language=args.language, code=code)
    if args.arguments is not None:
        json.loads(args.arguments)  # fail here, not on the server, on a typo
        request.entrypoint = "main"
        request.arguments_json = args.arguments
    if args.timeout_ms:
        request.limits.timeout_ms = args.timeout_ms
    return request


def main():
    parser = argparse.ArgumentParser(description="Run code in the sandbox service over gRPC.")
    parser.add_argument("code", help="the program, or - to read it from stdin")
    parser.add_argument("--language", default="python", choices=["python", "nodejs"])
    parser.add_argument("--arguments", help="JSON object: call main(**arguments) and return its value")
    parser.add_argument("--timeout-ms", type=int, help="lower the server's timeout for this run")
    parser.add_argument("--artifacts-dir", default=".", help="where files from artifacts/ are saved")
    parser.add_argument("--address", default=os.environ.get("SANDBOX_ADDRESS", "127.0.0.1:50051"))
    args = parser.parse_args()

    with grpc.insecure_channel(args.address) as channel:
        stub = sandbox_pb2_grpc.SandboxServiceStub(channel)
        try:
            for response in execute(stub, build_request(args), token=os.environ.get("SANDBOX_TOKEN")):
                kind = response.WhichOneof("event")
                if kind in ("stdout", "stderr"):
                    stream = sys.stdout if kind == "stdout" else sys.stderr
                    stream.buffer.write(getattr(response, kind).data)
                    stream.flush()  # show output the moment it arrives
                elif kind == "artifact":
                    artifact = response.artifact
                    path = os.path.join(args.artifacts_dir, os.path.basename(artifact.name))
                    with open(path, "wb") as out:
                        out.write(artifact.content)
                    print(f"[artifact] {artifact.name} ({artifact.mime_type}, {artifact.size} bytes) -> {path}", file=sys.stderr)
                elif kind == "result":
                    result = response.result
                    summary = {
                        "execution_id": result.execution_id,
                        "exit_reason": result.exit_reason,
                        "exit_code": result.exit_code,
                        "duration_ms": result.duration_ms,
                        "peak_memory_kb": result.peak_memory_kb,
                        "stdout_truncated": result.stdout_truncated,
                        "stderr_truncated": result.stderr_truncated,
                    }
                    if result.detail:
                        summary["detail"] = result.detail
                    if result.return_value.present:
                        summary["return_value"] = json.loads(result.return_value.value_json)
                    print(json.dumps(summary), file=sys.stderr)
                    return result.exit_code
        except grpc.RpcError as error:
            print(f"ExecuteCode failed: {error.code().name}: {error.details()}", file=sys.stderr)
            return 2
    print("ExecuteCode ended without a result", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
