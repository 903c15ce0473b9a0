#!/usr/bin/env bash
# Generates the Python gRPC stubs for sandbox.v1 from the .proto, with Debian's protoc
# (protobuf-compiler) and grpc_python_plugin (protobuf-compiler-grpc); `npm run setup` installs both.
#   examples/python/generate.sh [OUTPUT_DIR]      (default: examples/python/generated)
# The stubs import as `from sandbox.v1 import sandbox_pb2, sandbox_pb2_grpc` with OUTPUT_DIR on sys.path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$here/generated}"
plugin="$(command -v grpc_python_plugin || true)"
[[ -n "$plugin" ]] || { echo "grpc_python_plugin not found: apt-get install protobuf-compiler-grpc" >&2; exit 1; }
mkdir -p "$out"
protoc -I "$repo/proto" --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$plugin" "$repo/proto/sandbox/v1/sandbox.proto"
echo "generated $out/sandbox/v1/sandbox_pb2.py and sandbox_pb2_grpc.py"
