"""A session's file calls: upload (inbox -> /work), download and list (/work), never following a
symbolic link: every component of a path is opened relative to the directory before it with
O_NOFOLLOW (openat), so a link the code made cannot lead outside /work. Each call ends with a reply
frame carrying its nonce.

Loaded by session_launcher.py through launcher_common.load_sibling(); never by the kernel.
"""

import contextlib
import errno
import os
import shutil
import stat

import launcher_common as common  # registered in sys.modules by the launcher (-I: not on sys.path)

INBOX_DIR = os.path.join(common.JOB_DIR, common.PROTOCOL["session"]["inbox_dir"])
WORK_DIR = common.WORK_DIR
reply = common.write_reply


def upload(command):
    parts = path_parts(command["path"])
    directory = open_directory(parts[:-1], create=True)
    try:
        name = parts[-1]
        refuse_link(directory, name)
        temporary = f"{name}.upload-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=directory)
        target = open_at(directory, temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(os.path.join(INBOX_DIR, os.path.basename(command["inbox"])), "rb") as source:
            with os.fdopen(target, "wb") as copy:
                shutil.copyfileobj(source, copy)
        # rename() never follows a link: whatever the code put at `name` meanwhile is replaced.
        try:
            os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=directory)
            raise
        size = os.stat(name, dir_fd=directory, follow_symlinks=False).st_size
    finally:
        os.close(directory)
    reply(command["nonce"], {"ok": True, "size": size})


def download(command):
    parts = path_parts(command["path"])
    directory = open_directory(parts[:-1], create=False)
    try:
        # Non-blocking open: a FIFO the code left there must not hang the session.
        fd = open_at(directory, parts[-1], os.O_RDONLY | os.O_NONBLOCK)
    finally:
        os.close(directory)
    with os.fdopen(fd, "rb") as source:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(21, "not a regular file")
        content = source.read(command["max_bytes"] + 1)
    if len(content) > command["max_bytes"]:
        reply(command["nonce"], {"ok": False, "error": "too_large", "message": f"larger than {command['max_bytes']} bytes"})
        return
    reply(command["nonce"], {"ok": True, "size": len(content)}, content)


def list_files(command):
    files = []

    def walk(directory, prefix, depth):
        """Regular files first, then subdirectories, each sorted by name; links are never followed.
        Returns whether the listing stopped short."""
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        subdirectories = []
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                subdirectories.append(entry.name)
            elif entry.is_file(follow_symlinks=False):
                files.append({"path": prefix + entry.name, "size": entry.stat(follow_symlinks=False).st_size})
                if len(files) >= command["max_entries"]:
                    return True
        if subdirectories and depth >= MAX_LIST_DEPTH:
            return True
        for name in subdirectories:
            try:
                child = open_directory_at(directory, name)
            except (LinkRefused, OSError):
                continue  # swapped for a link or removed since it was listed
            try:
                if walk(child, f"{prefix}{name}/", depth + 1):
                    return True
            finally:
                os.close(child)
        return False

    root = os.open(WORK_DIR, DIRECTORY_FLAGS | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        truncated = walk(root, "", 1)
    finally:
        os.close(root)
    reply(command["nonce"], {"ok": True, "files": files, "truncated": truncated})


# Directory levels a listing descends at most. Each holds a descriptor and a Python frame: a tree the
# code made 1100 deep killed the launcher (status 134) and with it the session, on ListFiles.
MAX_LIST_DEPTH = 256

# Not O_DIRECTORY: this gVisor follows a link despite O_NOFOLLOW when O_DIRECTORY is set (measured);
# open_directory_at() checks the type instead. O_NONBLOCK: a FIFO in the path must not hang the session.
DIRECTORY_FLAGS = os.O_RDONLY | os.O_NONBLOCK


class LinkRefused(Exception):
    """A path component is a symbolic link: session files never follow one (the host answers
    INVALID_ARGUMENT with this message)."""


def path_parts(relative):
    # The host validated the path (relative, no "..", no NUL); checked again here all the same.
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if relative.startswith("/") or "\0" in relative or ".." in parts or not parts:
        raise PermissionError(errno.EPERM, "invalid path")
    return parts


def open_at(directory, name, flags, mode=0o777):
    """Opens `name` in the directory open as `directory`, never following a link there."""
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=directory)
    except OSError as error:
        if error.errno == errno.ELOOP:  # what O_NOFOLLOW says of a link
            refuse_link(directory, name)
        raise


def open_directory_at(directory, name):
    fd = open_at(directory, name, DIRECTORY_FLAGS)
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotADirectoryError(errno.ENOTDIR, f"{name!r} is not a directory")
    return fd


def refuse_link(directory, name):
    try:
        is_link = stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return
    if is_link:
        raise LinkRefused(f"{name!r} is a symbolic link; session files never follow links")


def open_directory(parts, create):
    """The directory WORK_DIR/parts, each component opened relative to the one before without following
    a link, so what the code does to the path meanwhile cannot lead the open elsewhere. `create`: make
    the missing ones (upload)."""
    directory = os.open(WORK_DIR, DIRECTORY_FLAGS | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            try:
                child = open_directory_at(directory, part)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=directory)
                child = open_directory_at(directory, part)
            os.close(directory)
            directory = child
    except BaseException:
        os.close(directory)
        raise
    return directory
