import time

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_output_streams_to_the_callbacks_in_order_before_the_result(sb):
    seen = []
    started = time.monotonic()
    code = "\n".join(
        [
            "import sys, time",
            'print("one", flush=True)',
            "time.sleep(0.3)",
            'print("two", file=sys.stderr, flush=True)',
            "time.sleep(0.3)",
            'print("three ünïcödé", flush=True)',
            "time.sleep(1)",
        ]
    )
    result = sb.run(
        code,
        on_stdout=lambda text: seen.append(("stdout", text, time.monotonic() - started)),
        on_stderr=lambda text: seen.append(("stderr", text, time.monotonic() - started)),
    )
    returned_at = time.monotonic() - started

    # A line may arrive in more than one chunk (print writes its text and its end separately, and
    # the sandbox's stdout is unbuffered): join the chunks of each stream's run before comparing.
    runs = []
    for stream, text, _ in seen:
        if runs and runs[-1][0] == stream:
            runs[-1] = (stream, runs[-1][1] + text)
        else:
            runs.append((stream, text))
    assert runs == [
        ("stdout", "one\n"),
        ("stderr", "two\n"),
        ("stdout", "three ünïcödé\n"),
    ]
    # Streamed as written, not handed over with the result: the last line came about a second early.
    assert returned_at - seen[-1][2] > 0.8
    assert result.ok and result.exit_code == 0
    assert result.stdout == "one\nthree ünïcödé\n"
    assert result.stderr == "two\n"


def test_files_stdin_limits_return_value_and_artifacts(sb):
    code = "\n".join(
        [
            "import os, sys",
            "import matplotlib",
            'matplotlib.use("Agg")',
            "import matplotlib.pyplot as plt",
            "def main(name, factor):",
            '    rows = open("data/in.csv").read().split()',
            '    os.makedirs("artifacts", exist_ok=True)',
            '    open("artifacts/greeting.txt", "w").write("hello " + name + " " + sys.stdin.read())',
            "    plt.plot([1, 2, 3])",
            '    plt.savefig("artifacts/plot.png")',
            '    return {"rows": len(rows), "scaled": factor * 21}',
        ]
    )
    result = sb.run(
        code,
        files={"data/in.csv": "a,b\n1,2\n3,4\n"},
        stdin="from stdin",
        arguments={"name": "rag", "factor": 2},
        limits={"timeout_ms": 20_000, "memory_bytes": 300 * 1024 * 1024},
    )
    assert result.exit_reason == "ok", result.stderr
    assert result.return_value.value == {"rows": 3, "scaled": 42}
    assert result.return_value.type == "dict"
    assert (result.limits.timeout_ms, result.limits.memory_bytes) == (20_000, 300 * 1024 * 1024)
    artifacts = {artifact.name: artifact for artifact in result.artifacts}
    assert artifacts["greeting.txt"].content == b"hello rag from stdin"
    assert artifacts["greeting.txt"].mime_type == "text/plain"
    plot = artifacts["plot.png"]
    assert plot.mime_type == "image/png" and plot.size == len(plot.content)
    assert plot.content.startswith(PNG_MAGIC)
    assert plot._repr_png_() == plot.content


def test_what_the_program_does_is_a_result_not_an_exception(sb):
    failed = sb.run('import sys\nprint("bad", file=sys.stderr)\nsys.exit(3)')
    assert (failed.exit_reason, failed.exit_code, failed.stderr) == ("error", 3, "bad\n")
    timed_out = sb.run("while True: pass", limits={"timeout_ms": 500})
    assert (timed_out.exit_reason, timed_out.exit_code) == ("timeout", 137)
    node = sb.run('console.log([1, 2, 3].map((x) => x * 2).join(","))', "nodejs")
    assert node.ok and node.stdout == "2,4,6\n"
