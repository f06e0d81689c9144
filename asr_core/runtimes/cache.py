"""Where converted models are cached: one folder per engine, one entry per checkpoint, weights and format."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..models import is_folder

CACHE_ROOT = Path.home() / ".cache" / "asr-cost-explorer"


def converted_path(env: str, engine: str, model_id: str, weights: str, tag: str) -> Path:
    """$env if set, else ~/.cache/asr-cost-explorer/<engine>, then <name>-<weights>-<tag>; a local folder is named
    by its name plus a digest of where it is and when its files last changed, so an edited checkpoint converts anew."""
    root = Path(os.environ.get(env) or CACHE_ROOT / engine)
    path = Path(model_id)
    if is_folder(path):
        stamp = f"{path.resolve()}:{max(f.stat().st_mtime_ns for f in path.iterdir())}"
        name = f"{path.name}-{hashlib.sha1(stamp.encode()).hexdigest()[:10]}"
    else:
        name = model_id.replace("/", "--")
    return root / f"{name}-{weights}-{tag}"
