"""RAGFlow's side of the conversation, run from a container on the (stand-in) RAGFlow network.

Written from what RAGFlow's code does, not copied from it:
- agent/sandbox/providers/self_managed.py: health check GET <endpoint>/healthz (5 s); execute_code
  normalises python3 -> python and javascript -> nodejs, POSTs {code_b64, language, arguments} to
  <endpoint>/run with only "Content-Type: application/json" (no token, no other header) and a client
  timeout of its `timeout` argument (10 s by default); anything but HTTP 200 is an error.
- agent/sandbox/tests/sandbox_security_tests_full.py: 5 workers firing infinite loops at once; each
  must come back as a refused-by-limit result, not a client timeout. Its suite gives each 15 s; here
  each gets 30 s, because on this 2-core machine with RAGFlow's pool of 3 the 4th and 5th loops need
  a sandbox started while three one-core loops saturate both cores: measured 10-12 s per start, so
  20-22 s in all (RAGFlow's own manager, pool 3, makes them wait for a loop to end: 20 s and more).

Usage: python3 ragflow_provider_client.py http://sandbox-executor-manager:9385
Prints one JSON object with everything observed.
"""
import base64
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

ENDPOINT = sys.argv[1]
# A burst call's client timeout (see the module comment for why not the suite's 15 s).
BURST_TIMEOUT_S = 30


def normalize_language(language):
    lowered = (language or "python").lower()
    if lowered in ("python", "python3"):
        return "python"
    if lowered in ("javascript", "nodejs"):
        return "nodejs"
    return language


def execute_code(code, language, arguments=None, timeout=10):
    payload = {
        "code_b64": base64.b64encode(code.encode("utf-8")).decode("utf-8"),
        "language": normalize_language(language),
        "arguments": arguments or {},
    }
    started = time.time()
    response = requests.post(
        f"{ENDPOINT}/run", json=payload, timeout=timeout, headers={"Content-Type": "application/json"}
    )
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    return {
        "http": response.status_code,
        "seconds": round(time.time() - started, 2),
        "status": body.get("status"),
        "stdout": body.get("stdout"),
        "stderr": body.get("stderr"),
        "resource_limit_type": body.get("resource_limit_type"),
        "result": body.get("result"),
    }


PANDAS = """
import pandas as pd

def main(rows, column):
    frame = pd.DataFrame(rows)
    return {"total": int(frame[column].sum()), "rows": len(frame)}
"""

AXIOS = """
const axios = require('axios');

async function main(args) {
  return { client: typeof axios.get, doubled: args.n * 2 };
}

module.exports = { main };
"""

LOOP = """
def main():
    while True:
        pass
"""

report = {"health": requests.get(f"{ENDPOINT}/healthz", timeout=5).status_code, "calls": {}}
report["calls"]["python3_pandas"] = execute_code(
    PANDAS, "python3", {"rows": [{"a": 1}, {"a": 2}, {"a": 4}], "column": "a"}
)
report["calls"]["javascript_axios"] = execute_code(AXIOS, "javascript", {"n": 21})
report["calls"]["python_print"] = execute_code('print("hello from ragflow")', "python")
report["calls"]["nodejs_main"] = execute_code("function main(args) { return [args.x, 'ok']; }", "nodejs", {"x": 1})

with ThreadPoolExecutor(max_workers=5) as pool:
    burst = [pool.submit(execute_code, LOOP, "python", {}, BURST_TIMEOUT_S) for _ in range(5)]
    report["burst"] = []
    for future in burst:
        try:
            report["burst"].append(future.result())
        except requests.RequestException as error:
            report["burst"].append({"error": str(error)})

print(json.dumps(report))
