"""The precomputed folder, shared by every page: where the shipped sweeps and the published WER table are, the
published table as read from it, and a stamp that changes when a file there does (the caches' key)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from asr_core import published

PRECOMPUTED_ENV = "ASR_PRECOMPUTED_DIR"
DEFAULT_PRECOMPUTED = "precomputed"
PUBLISHED_FILE = "published.csv"  # in the precomputed folder: WER others published (asr_core.published)


def precomputed_dir(root: str | os.PathLike) -> Path:
    """$ASR_PRECOMPUTED_DIR, else precomputed/ in the repository."""
    env = os.environ.get(PRECOMPUTED_ENV)
    return Path(env) if env else Path(root) / DEFAULT_PRECOMPUTED


def published_table(root: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """The published table beside the sweeps, and its problems (an empty table when it is absent or refused)."""
    path = precomputed_dir(root) / PUBLISHED_FILE
    if not path.is_file():
        return pd.DataFrame(columns=[*published.COLUMNS, "benchmark", "wer"]), []
    try:
        return published.load(path), []
    except published.PublishedTableError as exc:
        return pd.DataFrame(columns=[*published.COLUMNS, "benchmark", "wer"]), [str(exc)]


def files_stamp(files: Sequence[Path]) -> tuple[tuple[str, float, int], ...]:
    """Name, mtime and size of each file: a cache key that changes when a file does."""
    return tuple((str(p), p.stat().st_mtime, p.stat().st_size) for p in files)


