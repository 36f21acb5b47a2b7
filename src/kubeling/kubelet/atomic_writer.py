"""Kubernetes' atomic writer (pkg/volume/util/atomic_writer.go): the on-disk layout of configMap,
secret, downwardAPI and projected volumes, so that new content appears all at once.

    <dir>/..2026_01_01_00_00_00.123456789/   the files, in a timestamped directory
    <dir>/..data -> ..2026_01_01_00_00_00.123456789
    <dir>/key    -> ..data/key                 one symlink per top-level path of the payload

An update writes a new timestamped directory and renames a `..data_tmp` symlink over `..data`
(rename is atomic), then prunes what the payload no longer has and the old directory.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import random
import shutil
from pathlib import Path

DATA_DIR = "..data"
NEW_DATA_DIR = "..data_tmp"
MAX_FILE_NAME_LENGTH = 255
MAX_PATH_LENGTH = 4096

# path -> (content, file mode)
Payload = dict[str, tuple[bytes, int]]


class PayloadError(ValueError):
    """A payload path the writer refuses (Kubernetes' validatePath messages)."""


def validate_path(target: str) -> None:
    if target == "":
        raise PayloadError('invalid path: must not be empty: ""')
    if target.startswith("/"):
        raise PayloadError(f"invalid path: must be relative path: {target}")
    if len(target) > MAX_PATH_LENGTH:
        raise PayloadError(f"invalid path: must be less than or equal to {MAX_PATH_LENGTH} characters")
    items = target.split("/")
    for item in items:
        if item == "..":
            raise PayloadError(f"invalid path: must not contain '..': {target}")
        if len(item) > MAX_FILE_NAME_LENGTH:
            raise PayloadError(f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} "
                               "characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise PayloadError(f"invalid path: must not start with '..': {target}")


def _clean(payload: Payload) -> Payload:
    for path in payload:
        validate_path(path)
    return {posixpath.normpath(path): content for path, content in payload.items()}


def _differs(old_dir: Path, payload: Payload) -> bool:
    for path, (data, _mode) in payload.items():
        try:
            if (old_dir / path).read_bytes() != data:
                return True
        except OSError:  # missing, or a directory where a file now goes
            return True
    return False


def _paths_to_remove(old_dir: Path, payload: Payload) -> set[str]:
    present = {str(p.relative_to(old_dir)) for p in old_dir.rglob("*")}
    wanted = set()
    for path in payload:
        while path:
            wanted.add(path)
            path = posixpath.dirname(path)
    return present - wanted


def _new_timestamp_dir(target: Path, now: dt.datetime) -> Path:
    prefix = now.astimezone(dt.UTC).strftime("..%Y_%m_%d_%H_%M_%S.")
    while True:
        ts_dir = target / f"{prefix}{random.getrandbits(32)}"  # os.MkdirTemp's random suffix
        try:
            ts_dir.mkdir(mode=0o700)
        except FileExistsError:
            continue
        ts_dir.chmod(0o755)  # group and other must be able to traverse it, whatever the umask
        return ts_dir


def _write_files(ts_dir: Path, payload: Payload) -> None:
    for path, (data, mode) in payload.items():
        full = ts_dir / path
        full.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)  # the mode as asked, not as the umask left it
        finally:
            os.close(fd)


def _link_visible(target: Path, payload: Payload) -> None:
    for path in payload:
        top = path.split("/", 1)[0]
        link = target / top
        if not link.is_symlink():
            os.symlink(posixpath.join(DATA_DIR, top), link)


def write(target: Path, payload: Payload, now: dt.datetime | None = None) -> bool:
    """Project payload into the existing directory target; True if new content was written."""
    clean = _clean(payload)
    data_link = target / DATA_DIR
    try:
        old_ts = os.readlink(data_link)
    except FileNotFoundError:
        old_ts = ""
    remove: set[str] = set()
    if old_ts:
        old_dir = target / old_ts
        remove = _paths_to_remove(old_dir, clean) if old_dir.is_dir() else set()
        if not remove and not _differs(old_dir, clean):
            _link_visible(target, clean)  # up to date; the visible links may still be missing
            return False
    ts_dir = _new_timestamp_dir(target, now or dt.datetime.now(dt.UTC))
    try:
        _write_files(ts_dir, clean)
        tmp_link = target / NEW_DATA_DIR
        if tmp_link.is_symlink():
            tmp_link.unlink()
        os.symlink(ts_dir.name, tmp_link)
        os.rename(tmp_link, data_link)
    except OSError:
        shutil.rmtree(ts_dir, ignore_errors=True)
        raise
    _link_visible(target, clean)
    for path in remove:
        if "/" not in path:  # only the volume root holds user-visible links
            (target / path).unlink(missing_ok=True)
    if old_ts and old_ts != ts_dir.name:
        shutil.rmtree(target / old_ts, ignore_errors=True)
    return True
