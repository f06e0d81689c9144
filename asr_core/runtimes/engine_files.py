"""Converted engine files, checked before use against what the converter recorded beside them.

A converter (``ggml.write_ggml`` for whisper.cpp, ``ct2.convert_ct2`` for CTranslate2) writes its output under a
temporary ``*.part`` name, then a *record* (JSON, written atomically) of each file's size and SHA-256 and, for a
whisper.cpp file, its header fields, and only then renames the output into place. Before a converted file is
used, ``verified`` compares it with that record, and the runtime compares the header with the checkpoint
(``ggml.check_header``): a file cut short, a flipped header field or a changed byte is one sentence with the fix
(delete the file to convert again), never a measurement.

A converted file without a record (written before records existed, or left by a crash between two renames) is
converted again. A conversion holds a lock beside its output, and removes the ``*.part`` files that a killed
conversion left there.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import filelock

from ..errors import ModelError
from .cache import cache_error

PART = ".part"  # suffix of a file or folder a converter is still writing
RECORD_SUFFIX = ".record.json"  # beside a converted file: <name>.record.json
FOLDER_RECORD = "asr-record.json"  # inside a converted folder (CTranslate2)
LOCK_SUFFIX = ".lock"
HASH_CHUNK_BYTES = 1 << 20
FIX = "delete it to convert the checkpoint again"
MAX_SHOWN = 3  # header fields a message names at most
HeaderReader = Callable[[Path], dict[str, int]]


def record_path(path: Path) -> Path:
    """Where the record of a converted file or folder is kept."""
    return path / FOLDER_RECORD if path.is_dir() else path.with_name(path.name + RECORD_SUFFIX)


def describe(path: Path, header: dict[str, int] | None = None) -> dict[str, Any]:
    """What a record holds about one file: its size and SHA-256 (and header fields, where the format has them)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return {"size_bytes": path.stat().st_size, "sha256": digest.hexdigest(), **({"header": header} if header else {})}


def write_record(record: Path, files: dict[str, dict[str, Any]]) -> None:
    """Write a record (file name -> describe()) atomically: a temporary file, fsync, rename."""
    tmp = record.with_name(record.name + PART)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"files": files}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, record)


def record_file(done: Path, path: Path, header: dict[str, int] | None = None) -> None:
    """Record a converted file written as `done` that is about to be renamed to `path` (the record comes first)."""
    write_record(record_path(path), {path.name: describe(done, header)})


def record_folder(folder: Path) -> None:
    """Record every file of a converted folder, inside it (before the folder is renamed into place)."""
    write_record(folder / FOLDER_RECORD, {p.name: describe(p) for p in sorted(folder.iterdir())
                                          if p.is_file() and p.name != FOLDER_RECORD})


def verified(path: Path, engine: str, env: str, read_header: HeaderReader | None = None) -> bool:
    """True when the converted file or folder at path matches its record; False when there is nothing usable to
    check (absent, or without a record: removed, so it is converted again); ModelError naming what differs.

    read_header: the format's header fields of a file, compared with the recorded ones before the checksum, so a
    damaged header is named field by field.
    """
    if not path.exists():
        return False
    record = record_path(path)
    if not record.is_file():
        _remove(path)
        return False
    try:
        files = json.loads(record.read_text(encoding="utf-8"))["files"]
        expected = {name: (int(f["size_bytes"]), str(f["sha256"]), dict(f.get("header") or {}))
                    for name, f in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ModelError(damaged(engine, path, "its record cannot be read", env)) from None
    base = path if path.is_dir() else path.parent
    for name, (size, sha, header) in expected.items():
        if why := _differs(base / name, size, sha, header, read_header):
            raise ModelError(damaged(engine, path, why, env))
    return True


def damaged(engine: str, path: Path, why: str, env: str) -> str:
    """The one sentence for a converted file that must not be used (its folder named by the variable that places
    it, or as the default under ~, never by a full server path)."""
    kind = "folder" if path.is_dir() else "file"
    return f"The converted {engine} {kind} {path.name} is damaged ({why}): {FIX} (it is in {_where(path, env)})."


@contextlib.contextmanager
def converting(path: Path, env: str) -> Iterator[None]:
    """Hold path's lock while its conversion runs, after removing what killed conversions left (*.part)."""
    lock_file = path.with_name(path.name + LOCK_SUFFIX)
    try:
        lock_file.touch()  # filelock retries for ever where no file can be made: find out first
    except OSError as exc:  # a read-only cache folder
        raise ModelError(cache_error(env, exc)) from None
    lock = filelock.FileLock(lock_file)
    lock.acquire()
    try:
        for left in path.parent.glob(f"{path.name}*{PART}"):  # the lock is ours: no live conversion writes these
            _remove(left)
        yield
    finally:
        lock.release()


def _differs(file: Path, size: int, sha: str, header: dict[str, int], read_header: HeaderReader | None) -> str:
    """Why a recorded file does not match its record ('' when it does): size, header fields, then checksum."""
    try:
        actual = file.stat().st_size
    except OSError:
        return f"{file.name} is missing"
    if actual != size:
        return f"{file.name} is {actual:,} bytes where the converter wrote {size:,}"
    if header and read_header is not None and (wrong := header_differs(read_header(file), header, "the converter wrote")):
        return wrong
    if describe(file)["sha256"] != sha:
        return f"the checksum of {file.name} differs from the one the converter recorded"
    return ""


def header_differs(found: dict[str, int], expected: dict[str, int], source: str) -> str:
    """'its header says n_mels 80 where <source> 128, …' for the fields that differ (MAX_SHOWN at most); '' if none."""
    wrong = [f"{k} {found.get(k)} where {source} {v}" for k, v in expected.items() if found.get(k) != v]
    return "its header says " + ", ".join(wrong[:MAX_SHOWN]) if wrong else ""


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            record_path(path).unlink()


def _where(path: Path, env: str) -> str:
    if os.environ.get(env):
        return f"the folder {env} names"
    home, folder = Path.home(), path.parent
    return f"~/{folder.relative_to(home).as_posix()}" if folder.is_relative_to(home) else f"the folder {folder.name}"
