#!/usr/bin/env bash
# Generates code_sandbox/_proto/sandbox_pb2.py and sandbox_pb2_grpc.py from the service's
# proto/sandbox/v1/sandbox.proto with Debian's protoc (protobuf-compiler 3.21) and grpc_python_plugin
# (protobuf-compiler-grpc 1.51); `npm run setup` installs both. The output is committed;
# test/unit/python-client-stubs.test.ts regenerates it into a temporary directory and compares.
#   clients/python/generate.sh [OUTPUT_DIR]      (default: clients/python/code_sandbox/_proto)
# protoc writes the service stub with an absolute import of a top-level "sandbox" package; it is
# rewritten to a relative one so that the stubs live inside code_sandbox and claim no global name.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$here/code_sandbox/_proto}"
plugin="$(command -v grpc_python_plugin || true)"
[[ -n "$plugin" ]] || { echo "grpc_python_plugin not found: apt-get install protobuf-compiler-grpc" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
protoc -I "$repo/proto" --python_out="$work" --grpc_python_out="$work" \
  --plugin=protoc-gen-grpc_python="$plugin" "$repo/proto/sandbox/v1/sandbox.proto"
mkdir -p "$out"
cp "$work/sandbox/v1/sandbox_pb2.py" "$out/sandbox_pb2.py"
sed 's/^from sandbox\.v1 import sandbox_pb2 as /from . import sandbox_pb2 as /' \
  "$work/sandbox/v1/sandbox_pb2_grpc.py" >"$out/sandbox_pb2_grpc.py"
grep -q '^from \. import sandbox_pb2 as ' "$out/sandbox_pb2_grpc.py" \
  || { echo "generate.sh: the stub's import of sandbox_pb2 was not found to rewrite" >&2; exit 1; }
