"""Where converted models are cached: one folder per engine, one entry per checkpoint, weights and format."""
from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

from ..errors import ModelError
from ..models import is_folder

CACHE_ROOT = Path.home() / ".cache" / "asr-cost-explorer"


def converted_path(env: str, engine: str, model_id: str, weights: str, tag: str) -> Path:
    """$env if set, else ~/.cache/asr-cost-explorer/<engine>, then <name>-<weights>-<tag>; a local folder is named
    by its name plus a digest of where it is and when its files last changed, so an edited checkpoint converts anew."""
    root = cache_root(env, engine)
    path = Path(model_id)
    if is_folder(path):
        stamp = f"{path.resolve()}:{max(f.stat().st_mtime_ns for f in path.iterdir())}"
        name = f"{path.name}-{hashlib.sha1(stamp.encode()).hexdigest()[:10]}"
    else:
        name = model_id.replace("/", "--")
    return root / f"{name}-{weights}-{tag}"


def cache_root(env: str, engine: str) -> Path:
    """The engine's cache folder ($env, ~ expanded, else the default), created if missing; ModelError in one sentence
    when it cannot be (a file is there, a place where no folder can be made)."""
    root = Path(os.environ.get(env) or CACHE_ROOT / engine).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(cache_error(env, exc)) from None
    return root


def cache_error(env: str, exc: OSError) -> str:
    """The one sentence for a conversion cache that cannot be used, naming the variable that places it."""
    if isinstance(exc, FileExistsError) or exc.errno == errno.ENOTDIR:
        why = "a file is there, not a folder"
    else:
        why = exc.strerror or type(exc).__name__
    where = f"the folder {env} names" if os.environ.get(env) else "its default folder under ~/.cache"
    return (f"The conversion cache cannot be used ({where}: {why}): point {env} at a writable folder, or unset it "
            f"to use ~/.cache/{CACHE_ROOT.name}.")
