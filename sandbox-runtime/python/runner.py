"""Function mode for Python: loads the program as module "main" and calls main(**arguments).

Started by the launcher as the program process (so it runs with the program's limits and privileges).
The return value goes to the launcher over a dedicated pipe (fd from SANDBOX_RESULT_FD), never through
stdout, so nothing the program prints can be mistaken for it.
"""

import asyncio
import inspect
import json
import os
import sys
import traceback
import types

JOB_DIR = "/sandbox/job"


def report(record):
    with os.fdopen(RESULT_FD, "w", encoding="utf-8") as channel:
        channel.write(json.dumps(record))


def fail(message):
    print(message, file=sys.stderr, flush=True)
    report({"error": message})
    sys.exit(1)


def type_name(value):
    return "null" if value is None else type(value).__name__


def load_module(path):
    module = types.ModuleType("main")
    module.__file__ = path
    sys.modules["main"] = module
    sys.path.insert(0, os.path.dirname(path))
    with open(path, "rb") as source:
        code = compile(source.read(), path, "exec")
    exec(code, module.__dict__)  # noqa: S102 - running the user's program is the point
    return module


def call_main(module, arguments):
    entry = module.__dict__.get("main")
    if not callable(entry):
        fail("main(): the code defines no function named main; define `def main(**kwargs)` or run it as a script")
    value = entry(**arguments)
    if inspect.isawaitable(value):
        value = asyncio.run(_await(value))
    return value


async def _await(awaitable):
    return await awaitable


RESULT_FD = int(os.environ.pop("SANDBOX_RESULT_FD"))


def main():
    entry_path = os.path.join(JOB_DIR, sys.argv[1])
    with open(os.path.join(JOB_DIR, "arguments.json"), encoding="utf-8") as arguments_file:
        arguments = json.load(arguments_file)
    sys.argv = [entry_path]
    try:
        module = load_module(entry_path)
        value = call_main(module, arguments)
    except SystemExit:
        raise
    except BaseException:  # the program's own error: show it like Python would, without our frames
        exc_type, exc, tb = sys.exc_info()
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        traceback.print_exception(exc_type, exc, tb)
        report({"error": f"main() raised {exc_type.__name__}: {exc}"})
        sys.exit(1)
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        fail(f"main() returned a value that is not JSON-serialisable ({type_name(value)}): {error}")
    report({"present": True, "value_json": encoded, "type": type_name(value)})


main()
