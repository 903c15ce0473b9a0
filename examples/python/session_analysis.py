#!/usr/bin/env python3
"""A three-cell analysis in one session, the way an agent works step by step (gRPC, stock grpcio).

Creates a Python session, uploads a CSV, then runs three cells that build on each other: load it, fix a
column, plot it. Prints each cell's output and value, saves the plot's PNG, downloads a file the code
wrote, and closes the session.

    examples/python/generate.sh                      # once: protoc + grpc_python_plugin
    python3 examples/python/session_analysis.py [--out-dir DIR]

Server address: --address or SANDBOX_ADDRESS (default 127.0.0.1:50051); token: SANDBOX_TOKEN.
"""

import argparse
import os
import sys

sys.path.insert(0, os.environ.get("SANDBOX_STUBS_DIR", os.path.join(os.path.dirname(__file__), "generated")))

import grpc  # noqa: E402
from sandbox.v1 import sandbox_pb2, sandbox_pb2_grpc  # noqa: E402

SALES_CSV = b"month,revenue\n2024-01,120\n2024-02,unknown\n2024-03,150\n2024-04,170\n"

CELLS = [
    # 1: load and look at it
    'import pandas as pd\ndf = pd.read_csv("sales.csv")\ndf.dtypes',
    # 2: fix the column the first look showed was text; df is still there
    'df["revenue"] = pd.to_numeric(df.revenue, errors="coerce").interpolate()\n'
    'df.to_csv("clean.csv", index=False)\nprint(len(df), "rows")\ndf.revenue.sum()',
    # 3: plot it
    'import matplotlib.pyplot as plt\nax = df.plot(x="month", y="revenue", marker="o")\nplt.show()',
]


def run_cell(stub, session_id, code, metadata, out_dir, number):
    """Runs one cell; prints output and values, saves images. Returns its exit reason."""
    request = sandbox_pb2.ExecuteCodeRequest(session_id=session_id, code=code)
    for response in stub.ExecuteCode(request, metadata=metadata):
        kind = response.WhichOneof("event")
        if kind in ("stdout", "stderr"):
            stream = sys.stdout if kind == "stdout" else sys.stderr
            stream.write(getattr(response, kind).data.decode("utf-8", "replace"))
        elif kind == "display":
            display = response.display
            if "image/png" in display.data:
                path = os.path.join(out_dir, f"cell{number}.png")
                with open(path, "wb") as image:
                    image.write(display.data["image/png"])
                print(f"[{display.kind}] image/png -> {path}")
            elif "text/plain" in display.data:
                print(f"[{display.kind}] {display.data['text/plain'].decode()}")
        elif kind == "result":
            result = response.result
            print(f"[cell {result.execution_count}] {result.exit_reason} in {result.duration_ms} ms {result.detail}")
            return result.exit_reason
    return "no result"


def main():
    parser = argparse.ArgumentParser(description="A three-cell analysis with a plot in one sandbox session.")
    parser.add_argument("--address", default=os.environ.get("SANDBOX_ADDRESS", "127.0.0.1:50051"))
    parser.add_argument("--out-dir", default=".", help="where the plot and the downloaded CSV are saved")
    args = parser.parse_args()
    token = os.environ.get("SANDBOX_TOKEN")
    auth = [("authorization", f"Bearer {token}")] if token else []

    with grpc.insecure_channel(args.address) as channel:
        stub = sandbox_pb2_grpc.SandboxServiceStub(channel)
        session = stub.CreateSession(sandbox_pb2.CreateSessionRequest(language="python"), metadata=auth or None)
        session_id = session.session_id
        # Behind several replicas, this metadata lets the proxy route every call to the session's owner.
        metadata = auth + [("sandbox-session-id", session_id)]
        print(f"session {session_id}")
        try:
            stub.UploadFile(
                sandbox_pb2.UploadFileRequest(session_id=session_id, path="sales.csv", content=SALES_CSV),
                metadata=metadata,
            )
            for number, code in enumerate(CELLS, start=1):
                if run_cell(stub, session_id, code, metadata, args.out_dir, number) != "ok":
                    return 1
            clean = stub.DownloadFile(
                sandbox_pb2.DownloadFileRequest(session_id=session_id, path="clean.csv"), metadata=metadata
            )
            path = os.path.join(args.out_dir, "clean.csv")
            with open(path, "wb") as out:
                out.write(clean.content)
            print(f"[download] clean.csv ({clean.size} bytes) -> {path}")
        finally:
            stub.CloseSession(sandbox_pb2.CloseSessionRequest(session_id=session_id), metadata=metadata)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        sys.exit(2)
