"""Drives /run exactly as RAGFlow's self-managed sandbox provider does: JSON {code_b64, language,
arguments} with `requests`, reading stdout, stderr, exit_code, status, result.value and artifacts.

Usage: ragflow_client.py BASE_URL TOKEN. Prints one JSON line per case; exits non-zero on a mismatch.
"""

import base64
import json
import sys

import requests

BASE_URL, TOKEN = sys.argv[1], sys.argv[2]

CASES = [
    {
        "name": "python function",
        "language": "python",
        "code": "def main(city: str, days: int) -> dict:\n    print('looking up', city)\n    return {'city': city, 'forecast': [20 + d for d in range(days)]}\n",
        "arguments": {"city": "Paris", "days": 3},
        "expect": {"status": "success", "exit_code": 0, "stdout": "looking up Paris\n",
                   "value": {"city": "Paris", "forecast": [20, 21, 22]}},
    },
    {
        "name": "python script",
        "language": "python",
        "code": "import pandas as pd\nprint(pd.DataFrame({'a': [1, 2]})['a'].sum())\n",
        "arguments": {},
        "expect": {"status": "success", "exit_code": 0, "stdout": "3\n", "value": None},
    },
    {
        "name": "nodejs function",
        "language": "nodejs",
        "code": "async function main(args) {\n  console.log('adding');\n  return { total: args.a + args.b };\n}\nmodule.exports = { main };\n",
        "arguments": {"a": 2, "b": 40},
        "expect": {"status": "success", "exit_code": 0, "stdout": "adding\n", "value": {"total": 42}},
    },
    {
        "name": "nodejs script",
        "language": "nodejs",
        "code": "console.log(JSON.stringify([1, 2, 3].map((x) => x * 2)));\n",
        "arguments": {},
        "expect": {"status": "success", "exit_code": 0, "stdout": "[2,4,6]\n", "value": None},
    },
    {
        "name": "python error",
        "language": "python",
        "code": "def main():\n    raise RuntimeError('no luck')\n",
        "arguments": {},
        "expect": {"status": "program_error", "exit_code": 1, "stdout": "", "value": None},
    },
    {
        "name": "python plot artifact",
        "language": "python",
        "code": "import matplotlib.pyplot as plt\ndef main():\n    plt.plot([1, 4, 9])\n    plt.savefig('artifacts/plot.png')\n    return 'saved'\n",
        "arguments": {},
        "expect": {"status": "success", "exit_code": 0, "stdout": "", "value": "saved",
                   "artifacts": [("plot.png", "image/png")]},
    },
]


def run(case):
    response = requests.post(
        f"{BASE_URL}/run",
        json={
            "code_b64": base64.b64encode(case["code"].encode()).decode(),
            "language": case["language"],
            "arguments": case["arguments"],
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def check(case, body):
    expect = case["expect"]
    problems = []
    for key in ("status", "exit_code", "stdout"):
        if body[key] != expect[key]:
            problems.append(f"{key}: {body[key]!r} != {expect[key]!r}")
    value = body["result"]["value"] if body["result"]["present"] else None
    if value != expect["value"]:
        problems.append(f"result.value: {value!r} != {expect['value']!r}")
    artifacts = [(a["name"], a["mime_type"]) for a in body["artifacts"]]
    if artifacts != expect.get("artifacts", []):
        problems.append(f"artifacts: {artifacts!r}")
    for artifact in body["artifacts"]:
        content = base64.b64decode(artifact["content_b64"])
        if len(content) != artifact["size"]:
            problems.append(f"artifact {artifact['name']}: size {artifact['size']} != {len(content)}")
        if artifact["mime_type"] == "image/png" and not content.startswith(b"\x89PNG\r\n\x1a\n"):
            problems.append(f"artifact {artifact['name']} is not a PNG")
    return problems


failed = False
for case in CASES:
    body = run(case)
    problems = check(case, body)
    failed = failed or bool(problems)
    print(json.dumps({"case": case["name"], "status": body["status"], "problems": problems,
                      "stderr": body["stderr"][-300:]}))
sys.exit(1 if failed else 0)
