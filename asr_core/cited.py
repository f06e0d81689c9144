"""The small cited tables shipped in ``precomputed/`` (published accuracy, prices): read as text, their columns
checked and their cells stripped, before each module checks its own rows."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd


def read(path: str | os.PathLike, error: type[Exception], what: str) -> pd.DataFrame:
    """The CSV file as text (no value read as a number or NaN); ``error`` naming the file if it cannot be read."""
    path = Path(path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise error(f"{path.name} could not be read as CSV ({type(exc).__name__}): check that it is the "
                    f"{what}.") from None


def text(raw: pd.DataFrame, columns: Sequence[str], error: type[Exception], name: str) -> pd.DataFrame:
    """The table's ``columns`` as stripped text; ``error`` naming those it lacks."""
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise error(f"{name} lacks the column(s) {', '.join(missing)}: give it {', '.join(columns)}.")
    return raw[list(columns)].fillna("").astype(str).apply(lambda col: col.str.strip())
