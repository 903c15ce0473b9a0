"""The README's examples, run as written (only the address differs: the test service's)."""

import os
import re
import textwrap

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def python_block(heading):
    """The first ```python block under the README's `## heading`."""
    text = open(README, encoding="utf-8").read()
    section = text.split(f"\n## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_quickstart_runs(service, capsys):
    code = python_block("Quickstart").replace("grpc://localhost:50051", service["url"])
    exec(compile(code, "README quickstart", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("42\nok ")


def test_the_sessions_example_runs(sb):
    namespace = {"sb": sb}
    exec(compile(textwrap.dedent(python_block("Sessions")), "README sessions", "exec"), namespace)
    assert namespace["png"].startswith(b"\x89PNG\r\n\x1a\n")
