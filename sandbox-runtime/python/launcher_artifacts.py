"""The one-shot launcher's artifacts: the regular files the program left under /work/artifacts,
checked for name, count and size, and sent to the host as artifact frames (launcher.py sends them
once nothing of the program runs any more).

Loaded by the launcher through launcher_common.load_sibling(); never by the program process.
"""

import json
import os
import re

import launcher_common as common  # registered in sys.modules by the launcher (-I: not on sys.path)

PROTOCOL, FRAMES, PATHS, CAPS, MESSAGES = common.PROTOCOL, common.FRAMES, common.PATHS, common.CAPS, common.MESSAGES
write_frame = common.write_frame

NAME_FORBIDDEN = re.compile(PROTOCOL["artifact_name_forbidden_characters"])
ARTIFACTS_DIR = os.path.join(common.WORK_DIR, PATHS["artifacts_dir"])


def artifact_name_problem(raw):
    """Why the artifact at relative path `raw` (bytes) cannot be sent under its name, or None."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        return MESSAGES["artifact_bad_name"]
    if (
        len(raw) > CAPS["artifact_name_bytes"]
        or name.count("/") >= CAPS["artifact_name_depth"]
        or NAME_FORBIDDEN.search(name)
    ):
        return MESSAGES["artifact_bad_name"]
    return None


def list_artifacts():
    """Relative paths (bytes) of the regular files under artifacts/, sorted bytewise, and whether the
    scan stopped at caps.artifact_scan_entries. Symlinks are left out: an input-file link is not
    something the program produced."""
    root = os.fsencode(ARTIFACTS_DIR)
    found = []
    seen = 0
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories + files:
            seen += 1
            if seen > CAPS["artifact_scan_entries"]:
                return sorted(found), True
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path) and os.path.isfile(path):
                found.append(os.path.relpath(path, root))
    return sorted(found), False


class Skipped:
    """Artifacts left out: all are counted, the first caps.skipped_artifacts_listed are named."""

    def __init__(self):
        self.total = 0
        self.listed = []

    def add(self, raw_name, reason):
        self.total += 1
        if len(self.listed) < CAPS["skipped_artifacts_listed"]:
            name = raw_name.decode("utf-8", "replace")[: CAPS["artifact_name_bytes"]]
            self.listed.append({"name": name, "reason": reason})


def send_artifacts(nonce, limits):
    """Sends the regular files under artifacts/ as frames, within the count and size caps."""
    max_count, max_bytes = limits["max_count"], limits["max_bytes"]
    skipped = Skipped()
    sent_count = 0
    sent_bytes = 0
    names, scan_stopped = list_artifacts()
    for raw in names:
        problem = artifact_name_problem(raw)
        if problem:
            skipped.add(raw, problem)
            continue
        if sent_count >= max_count:
            skipped.add(raw, MESSAGES["too_many_artifacts"].format(max_count=max_count))
            continue
        too_big = MESSAGES["artifacts_too_big"].format(max_bytes=max_bytes)
        path = os.path.join(os.fsencode(ARTIFACTS_DIR), raw)
        try:
            if sent_bytes + os.path.getsize(path) > max_bytes:
                skipped.add(raw, too_big)
                continue
            with open(path, "rb") as artifact:
                content = artifact.read(max_bytes - sent_bytes + 1)
        except OSError as error:
            skipped.add(raw, f"unreadable: {error.strerror}")
            continue
        if sent_bytes + len(content) > max_bytes:
            skipped.add(raw, too_big)
            continue
        header = json.dumps({"nonce": nonce, "name": raw.decode("utf-8"), "size": len(content)}).encode()
        write_frame(FRAMES["artifact"], header + b"\n" + content)
        sent_count += 1
        sent_bytes += len(content)
    if scan_stopped:
        skipped.add(b"\xe2\x80\xa6", MESSAGES["artifact_scan_stopped"].format(max_entries=CAPS["artifact_scan_entries"]))
    return skipped
