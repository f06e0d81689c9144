"""The sweep table: its schema, keys, reader, validation and the one aggregation rule.

A sweep table is what ``asr-profile sweep`` writes (parquet or CSV): one row per (cell, repeat) with
``results.RESULT_FIELDS`` plus ``EXTRA_FIELDS``. A *cell* is one configuration (``CELL_KEYS``); a row is
a cell and a repeat (``ROW_KEYS``), the key the sweep resumes by.

Aggregation, everywhere (Explore, Recommend, findings, the sweep's summary): successful rows only, the
**median over repeats** of every figure, the **maximum** of peak memory (what the machine must have),
and the distinct values of labels (energy source, hardware names) joined.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .clips import bucket_seconds
from .results import RESULT_FIELDS, STATUS_OK

CELL_KEYS = ["model", "runtime", "weights", "device", "precision", "batch_size", "bucket"]
ROW_KEYS = [*CELL_KEYS, "repeat"]
# Device and batch size do not change what a model computes, so accuracy may be pooled over them.
WER_KEYS = ["model", "runtime", "weights", "precision", "bucket"]
EXTRA_FIELDS = ("repeat", "clip_source", "git_commit")
COLUMNS = (*RESULT_FIELDS, *EXTRA_FIELDS)
SUFFIXES = (".parquet", ".csv")
SOURCE_FILE = "source_file"  # which file a row came from (added by read)
# Without these a table cannot be charted at all; other missing columns are filled with blanks.
REQUIRED = ("model", "device", "precision", "weights", "batch_size", "bucket", "status", "latency_per_utt_s")
TEXT_COLUMNS = ("model", "family", "device", "precision", "weights", "runtime", "bucket", "status", "energy_source",
                "cpu_name", "gpu_name", "clip_source", "error")
MEDIAN_COLUMNS = ["audio_s", "n_clips", "latency_s", "latency_per_utt_s", "rtf", "throughput_audio_s_per_s",
                  "throughput_utt_per_s", "preprocess_s", "encoder_s", "decoder_s", "energy_j",
                  "energy_per_utt_j", "energy_per_audio_s_j", "wer", "cer", "total_flops",
                  "encoder_flops_per_clip"]
MAX_COLUMNS = ["peak_memory_bytes"]
JOINED_COLUMNS = ["family", "energy_source", "cpu_name", "gpu_name", "clip_source"]
STAGE_COLUMNS = {"preprocess_s": "preprocess", "encoder_s": "encoder", "decoder_s": "decoder"}
CTC_DECODER = "CTC head"
FAILED_COLUMNS = ["model", "weights", "device", "precision", "batch_size", "bucket", "repeat", "status", "error"]


class SweepFileError(ValueError):
    """A sweep file that cannot be read or lacks needed columns; the message names the file."""


# --- reading and writing -------------------------------------------------------------------------

def read_rows(path: str | os.PathLike) -> pd.DataFrame:
    """A sweep file as written (parquet or CSV, by suffix); an empty table if it does not exist."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def write_atomic(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the whole table to a temporary file, fsync it, then rename it over the target."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if path.suffix == ".csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read(data: bytes | str | os.PathLike, name: str | None = None) -> pd.DataFrame:
    """One sweep file (parquet or CSV, by name) as a validated table with a source_file column."""
    name = name or str(data)
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise SweepFileError(f"{name}: not a sweep file; use the .parquet or .csv that `asr-profile sweep` wrote.")
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        df = pd.read_parquet(src) if suffix == ".parquet" else pd.read_csv(src)
    except Exception as exc:  # noqa: BLE001 - pyarrow and pandas raise many kinds
        raise SweepFileError(f"{name}: could not be read as {suffix[1:]} ({type(exc).__name__}); "
                             f"check that it is a sweep file.") from None
    return validate(df, name)


def validate(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Check the columns, fill optional ones, fix types, and tag rows with their file name."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SweepFileError(f"{name}: missing column(s) {', '.join(missing)}; a sweep file has the columns "
                             f"of results.RESULT_FIELDS plus {', '.join(EXTRA_FIELDS)}.")
    df = df.copy()
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = _blank(col)
    for col in TEXT_COLUMNS:
        df[col] = df[col].astype("string").fillna("").astype(str)
    df["batch_size"] = pd.to_numeric(df["batch_size"], errors="coerce").fillna(1).astype(int)
    df["repeat"] = pd.to_numeric(df["repeat"], errors="coerce").fillna(0).astype(int)
    df[SOURCE_FILE] = Path(name).name
    return df


def _blank(col: str) -> object:
    if col == "runtime":
        return "transformers"
    if col == "repeat":
        return 0
    return "" if col in ("clip_source", "git_commit", "error", "notes", "family") else np.nan


def sweep_files(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.parquet") if p.is_file()) if folder.is_dir() else []


def load_folder(folder: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """Every sweep file in folder, concatenated; plus one message per file that could not be read."""
    frames, errors = [], []
    for path in sweep_files(folder):
        try:
            frames.append(read(path, path.name))
        except SweepFileError as exc:
            errors.append(str(exc))
    return combine(frames), errors


def combine(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=[*COLUMNS, SOURCE_FILE])
    return pd.concat(frames, ignore_index=True)


# --- rows ------------------------------------------------------------------------------------------

def row_key(row: dict) -> tuple:
    """The identity of one row: its cell and repeat."""
    return tuple(row[k] for k in ROW_KEYS)


def split_status(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(status ok rows, failed rows with the columns that explain them)."""
    ok = df["status"] == STATUS_OK
    failed = df.loc[~ok, [c for c in FAILED_COLUMNS if c in df.columns]]
    return df[ok], failed.reset_index(drop=True)


def peak_memory_bytes(device, gpu_reserved, rss):
    """The memory figure that matters: GPU memory reserved on CUDA, process resident memory on CPU.

    Works on scalars and, element by element, on arrays or Series.
    """
    on_gpu = np.char.startswith(np.asarray(device, dtype=str), "cuda")
    out = np.where(on_gpu, gpu_reserved, rss)
    return out.item() if out.ndim == 0 else out


def bucket_order(values: Iterable[str]) -> list[str]:
    """Bucket names shortest first."""
    return sorted(set(values), key=lambda b: (bucket_seconds(b), str(b)))


# --- the aggregation rule ----------------------------------------------------------------------------

def _join_unique(values: pd.Series) -> str:
    return ", ".join(sorted({str(v) for v in values.dropna() if str(v)}))


def aggregate(df: pd.DataFrame, keys: Sequence[str] = CELL_KEYS) -> pd.DataFrame:
    """One row per group of keys over the successful rows: medians, max peak memory, joined labels.

    Adds n_runs (rows pooled), flops_per_utt, clip_s (seconds per clip) and bucket_s (the bucket's length).
    """
    keys = list(keys)
    ok = df[df["status"] == STATUS_OK] if "status" in df.columns else df
    if ok.empty:
        return pd.DataFrame(columns=[*keys, "n_runs", *MEDIAN_COLUMNS, *MAX_COLUMNS,
                                     *[c for c in JOINED_COLUMNS if c not in keys],
                                     "flops_per_utt", "clip_s", "bucket_s"])
    ok = ok.assign(peak_memory_bytes=peak_memory_bytes(ok["device"], ok["peak_gpu_reserved_bytes"],
                                                       ok["peak_rss_bytes"]))
    numeric = ok[MEDIAN_COLUMNS + MAX_COLUMNS].apply(pd.to_numeric, errors="coerce")
    ok = ok.assign(**{c: numeric[c] for c in numeric.columns})
    aggs = {"n_runs": ("model", "size"), **{c: (c, "median") for c in MEDIAN_COLUMNS},
            **{c: (c, "max") for c in MAX_COLUMNS},
            **{c: (c, _join_unique) for c in JOINED_COLUMNS if c not in keys and c in ok.columns}}
    out = ok.groupby(keys, dropna=False, sort=True).agg(**aggs).reset_index()
    n = out["n_clips"].where(out["n_clips"] > 0)
    out["flops_per_utt"] = out["total_flops"] / n
    out["clip_s"] = out["audio_s"] / n
    if "bucket" in out.columns:
        out["bucket_s"] = out["bucket"].map(bucket_seconds)
    return out


def stage_seconds(df: pd.DataFrame, label: str, per_utterance: bool = True) -> pd.DataFrame:
    """Long table (label, stage, seconds) for stacked stage bars; CTC models' decoder is the 'CTC head'."""
    n = df["n_clips"].where(df["n_clips"] > 0, 1) if per_utterance else 1
    wide = df.assign(**{stage: pd.to_numeric(df[col], errors="coerce") / n for col, stage in STAGE_COLUMNS.items()})
    family = wide["family"] if "family" in wide.columns else ""
    long = wide.assign(label=wide[label], family=family).melt(
        id_vars=["label", "family"], value_vars=list(STAGE_COLUMNS.values()), var_name="stage", value_name="seconds")
    long.loc[(long["stage"] == "decoder") & long["family"].astype(str).str.contains("ctc"), "stage"] = CTC_DECODER
    return long[["label", "stage", "seconds"]]
