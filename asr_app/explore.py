"""The Explore page's logic: filters, series labels, trade-off points and captions over a sweep table.

Reading, validating and aggregating the table is ``asr_core.sweep_table``'s job; this module shapes its
aggregates for charts (``series`` labels name what varies) and says what they were measured on.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from asr_core import sweep_table
from asr_core.recommend import pareto_front
from asr_core.sweep_table import CELL_KEYS

from . import present

PRECOMPUTED_ENV = "ASR_PRECOMPUTED_DIR"
DEFAULT_PRECOMPUTED = "precomputed"
# The sweep uploader's own limit, in Streamlit's megabytes (MiB); sweep_table.read checks it again.
UPLOAD_LIMIT_MB = sweep_table.MAX_FILE_BYTES // sweep_table.MIB
# column -> label of its filter widget, in the order the page shows them
FILTERS = {"model": "Model", "device": "Device", "precision": "Precision", "weights": "Weights",
           "runtime": "Runtime", "bucket": "Clip length (bucket)", "batch_size": "Batch size"}


def precomputed_dir(root: str | os.PathLike) -> Path:
    """$ASR_PRECOMPUTED_DIR, else precomputed/ in the repository."""
    env = os.environ.get(PRECOMPUTED_ENV)
    return Path(env) if env else Path(root) / DEFAULT_PRECOMPUTED


def files_stamp(files: Sequence[Path]) -> tuple[tuple[str, float, int], ...]:
    """Name, mtime and size of each file: a cache key that changes when a file does."""
    return tuple((str(p), p.stat().st_mtime, p.stat().st_size) for p in files)


# --- filtering ---------------------------------------------------------------------------------

def filter_options(df: pd.DataFrame) -> dict[str, list]:
    """Column -> the values present, in a natural order (buckets by length, batch sizes by number)."""
    return {col: _ordered(col, df[col].dropna().unique()) for col in FILTERS if col in df.columns}


def _ordered(col: str, values: Iterable) -> list:
    if col == "bucket":
        return sweep_table.bucket_order(values)
    if col == "batch_size":
        return sorted(int(v) for v in values)
    return sorted(values, key=str)


def apply_filters(df: pd.DataFrame, selections: Mapping[str, Sequence]) -> pd.DataFrame:
    """Rows whose value is selected in every filter (a filter not given keeps everything)."""
    keep = pd.Series(True, index=df.index)
    for col, chosen in selections.items():
        keep &= df[col].isin(list(chosen))
    return df[keep]


# --- aggregates for charts ---------------------------------------------------------------------

def aggregate(ok: pd.DataFrame, keys: Sequence[str] = CELL_KEYS, series_exclude: Sequence[str] = ()) -> pd.DataFrame:
    """sweep_table.aggregate, plus a 'series' label naming the keys that vary (except bucket and
    series_exclude, the chart's own x axis)."""
    out = sweep_table.aggregate(ok, keys)
    return add_series(out, [k for k in keys if k != "bucket"], series_exclude)


def add_series(df: pd.DataFrame, keys: Sequence[str], exclude: Sequence[str] = ()) -> pd.DataFrame:
    """A 'series' label per row naming the keys that vary in df (model first), for chart colours."""
    varying = [k for k in keys if k not in exclude and k in df.columns and df[k].nunique(dropna=False) > 1]
    if "model" in keys and "model" not in varying and "model" not in exclude:
        varying.insert(0, "model")
    if not varying or df.empty:
        return df.assign(series=df.get("model", pd.Series("", index=df.index)).astype(str))
    label = df[varying].astype(str).apply(lambda row: " · ".join(_short(k, v) for k, v in row.items()), axis=1)
    return df.assign(series=label)


def _short(key: str, value: str) -> str:
    if key == "model":
        return value.split("/")[-1]
    if key == "batch_size":
        return f"batch {value}"
    return value


def subset(rows: pd.DataFrame, **equals: object) -> pd.DataFrame:
    """The rows whose columns equal the given values (a value of None keeps every row)."""
    keep = pd.Series(True, index=rows.index)
    for col, value in equals.items():
        if value is not None:
            keep &= rows[col] == value
    return rows[keep]


def bucket_order(df: pd.DataFrame) -> list[str]:
    return sweep_table.bucket_order(df["bucket"].dropna().unique()) if "bucket" in df.columns else []


def with_wer(agg: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows that have a WER, and how many configurations have none (synthetic weights, no reference)."""
    has = agg["wer"].notna()
    return agg[has], int((~has).sum())


def tradeoff(agg: pd.DataFrame, cost: str) -> pd.DataFrame:
    """Configurations with a WER and a cost, marked True in 'pareto' where none beats them on both."""
    points = agg.dropna(subset=["wer", cost])
    return points.assign(pareto=pareto_front(points, cost, "wer"))


def pareto_line(points: pd.DataFrame, cost: str) -> pd.DataFrame:
    """The front's points ordered by cost, to draw as a step line."""
    return points[points["pareto"]].sort_values(cost)


# --- captions ----------------------------------------------------------------------------------

def caption(df: pd.DataFrame, energy: bool = True) -> str:
    """What hardware the rows were measured on and (for energy charts) how energy was obtained."""
    if df.empty:
        return ""
    text = present.hardware(_names(df, "cpu_name"), _names(df, "gpu_name"))
    if "n_runs" in df.columns and len(df):
        lo, hi = int(df["n_runs"].min()), int(df["n_runs"].max())
        text += f" Medians over {lo if lo == hi else f'{lo}–{hi}'} run(s) per point."
    if energy:
        text += " " + present.explain_sources(df["energy_source"].dropna().astype(str))
    return text


def _names(df: pd.DataFrame, col: str) -> list[str]:
    return [n.strip() for v in df[col].dropna().astype(str) for n in v.split(",") if n.strip()]


def clip_sources(df: pd.DataFrame) -> list[str]:
    return sorted({s for s in df.get("clip_source", pd.Series(dtype=str)).dropna().astype(str) if s})


def data_summary(df: pd.DataFrame) -> str:
    """How many rows, from which files, on which clips (names as the files give them: escape to show)."""
    files = ", ".join(sorted(df[sweep_table.SOURCE_FILE].astype(str).unique()))
    return (f"{len(df)} rows from {files}. Clips come from: {', '.join(clip_sources(df)) or 'unknown'} "
            f"(the clip_source column).")
