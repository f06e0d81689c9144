"""Sweep files for the Explorer and Recommend pages: load, check, filter, and aggregate over repeats.

A sweep file is the table ``asr-profile sweep`` writes: one row per (configuration, repeat) with the
``results.RESULT_FIELDS`` plus ``repeat``, ``runtime``, ``clip_source`` and ``git_commit``.
Everything a chart plots comes from ``aggregate``: medians over repeats, one row per configuration.
"""
from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import present
from .app_inputs import bucket_seconds
from .recommend import GROUP_KEYS, OBJECTIVE_COLUMNS, Recommendation, UseCase, pareto_front
from .results import RESULT_FIELDS, STATUS_OK

PRECOMPUTED_ENV = "ASR_PRECOMPUTED_DIR"
DEFAULT_PRECOMPUTED = "precomputed"
SWEEP_SUFFIXES = (".parquet", ".csv")
EXTRA_FIELDS = ("repeat", "runtime", "clip_source", "git_commit")
SOURCE_FILE = "source_file"
# Without these a file cannot be charted at all; other missing columns are filled with blanks.
REQUIRED = ("model", "device", "precision", "weights", "batch_size", "bucket", "status", "latency_per_utt_s")
# column -> label of its filter widget, in the order the page shows them
FILTERS = {"model": "Model", "device": "Device", "precision": "Precision", "weights": "Weights",
           "runtime": "Runtime", "bucket": "Clip length (bucket)", "batch_size": "Batch size"}
CONFIG_KEYS = ["model", "family", "runtime", "weights", "device", "precision", "batch_size", "bucket"]
# Device and batch size do not change what a model computes, so accuracy is pooled over them.
WER_KEYS = ["model", "family", "runtime", "weights", "precision", "bucket"]
MEDIAN_COLUMNS = ["audio_s", "n_clips", "latency_s", "latency_per_utt_s", "rtf", "throughput_audio_s_per_s",
                  "throughput_utt_per_s", "preprocess_s", "encoder_s", "decoder_s", "energy_j",
                  "energy_per_utt_j", "energy_per_audio_s_j", "wer", "cer", "total_flops",
                  "encoder_flops_per_clip"]
MAX_COLUMNS = ["peak_memory_bytes"]  # the worst repeat: what the machine must have
JOINED_COLUMNS = ["energy_source", "cpu_name", "gpu_name", "clip_source"]
STAGES = {"preprocess_s": "preprocess", "encoder_s": "encoder", "decoder_s": "decoder"}
CTC_DECODER = "CTC head"
FAILED_COLUMNS = ["model", "weights", "device", "precision", "batch_size", "bucket", "repeat", "status", "error"]


class SweepFileError(ValueError):
    """A sweep file that cannot be read or lacks needed columns; the message names the file."""


# --- loading -----------------------------------------------------------------------------------

def precomputed_dir(root: str | os.PathLike) -> Path:
    """$ASR_PRECOMPUTED_DIR, else precomputed/ in the repository."""
    env = os.environ.get(PRECOMPUTED_ENV)
    return Path(env) if env else Path(root) / DEFAULT_PRECOMPUTED


def sweep_files(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.parquet") if p.is_file()) if folder.is_dir() else []


def files_stamp(files: Sequence[Path]) -> tuple[tuple[str, float, int], ...]:
    """Name, mtime and size of each file: a cache key that changes when a file does."""
    return tuple((str(p), p.stat().st_mtime, p.stat().st_size) for p in files)


def read_sweep(data: bytes | str | os.PathLike, name: str) -> pd.DataFrame:
    """One sweep file (parquet or CSV, by name) as a checked table with a source_file column."""
    suffix = Path(name).suffix.lower()
    if suffix not in SWEEP_SUFFIXES:
        raise SweepFileError(f"{name}: not a sweep file; upload the .parquet or .csv that `asr-profile sweep` wrote.")
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        df = pd.read_parquet(src) if suffix == ".parquet" else pd.read_csv(src)
    except Exception as exc:  # noqa: BLE001 - pyarrow and pandas raise many kinds
        raise SweepFileError(f"{name}: could not be read as {suffix[1:]} ({type(exc).__name__}); "
                             f"check that it is a sweep file.") from None
    return normalise(df, name)


def normalise(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Check the columns, fill optional ones, fix types, and tag rows with their file name."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SweepFileError(f"{name}: missing column(s) {', '.join(missing)}; a sweep file has the columns "
                             f"of results.RESULT_FIELDS plus {', '.join(EXTRA_FIELDS)}.")
    df = df.copy()
    for col in (*RESULT_FIELDS, *EXTRA_FIELDS):
        if col not in df.columns:
            df[col] = _blank(col)
    for col in ("model", "device", "precision", "weights", "runtime", "bucket", "status", "energy_source",
                "cpu_name", "gpu_name", "clip_source", "family", "error"):
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


def load_folder(folder: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """Every sweep file in folder, concatenated; plus one message per file that could not be read."""
    frames, errors = [], []
    for path in sweep_files(folder):
        try:
            frames.append(read_sweep(path, path.name))
        except SweepFileError as exc:
            errors.append(str(exc))
    return combine(frames), errors


def combine(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=[*RESULT_FIELDS, *EXTRA_FIELDS, SOURCE_FILE])
    return pd.concat(frames, ignore_index=True)


# --- filtering ---------------------------------------------------------------------------------

def filter_options(df: pd.DataFrame) -> dict[str, list]:
    """Column -> the values present, in a natural order (buckets by length, batch sizes by number)."""
    return {col: _ordered(col, df[col].dropna().unique()) for col in FILTERS if col in df.columns}


def _ordered(col: str, values: Iterable) -> list:
    if col == "bucket":
        return sorted(values, key=lambda b: (bucket_seconds(b), str(b)))
    if col == "batch_size":
        return sorted(int(v) for v in values)
    return sorted(values, key=str)


def apply_filters(df: pd.DataFrame, selections: Mapping[str, Sequence]) -> pd.DataFrame:
    """Rows whose value is selected in every filter (a filter not given keeps everything)."""
    keep = pd.Series(True, index=df.index)
    for col, chosen in selections.items():
        keep &= df[col].isin(list(chosen))
    return df[keep]


def split_status(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(status ok rows, failed rows with the columns that explain them)."""
    ok = df["status"] == STATUS_OK
    failed = df.loc[~ok, [c for c in FAILED_COLUMNS if c in df.columns]]
    return df[ok], failed.reset_index(drop=True)


# --- aggregation -------------------------------------------------------------------------------

def _join_unique(values: pd.Series) -> str:
    return ", ".join(sorted({str(v) for v in values.dropna() if str(v)}))


def aggregate(ok: pd.DataFrame, keys: Sequence[str] = CONFIG_KEYS, series_exclude: Sequence[str] = ()) -> pd.DataFrame:
    """Medians over repeats (and anything not in keys), one row per configuration, with derived columns.

    The 'series' label names the keys that vary, except bucket and those in series_exclude (the
    chart's own x axis).
    """
    if ok.empty:
        return pd.DataFrame(columns=[*keys, "n_runs", *MEDIAN_COLUMNS, *MAX_COLUMNS, *JOINED_COLUMNS, "flops_per_utt",
                                     "clip_s", "bucket_s", "series"])
    ok = ok.assign(peak_memory_bytes=present.peak_memory_bytes(ok["device"], ok["peak_gpu_reserved_bytes"],
                                                               ok["peak_rss_bytes"]))
    numeric = ok[MEDIAN_COLUMNS + MAX_COLUMNS].apply(pd.to_numeric, errors="coerce")
    ok = ok.assign(**{c: numeric[c] for c in numeric.columns})
    aggs = {"n_runs": ("model", "size"), **{c: (c, "median") for c in MEDIAN_COLUMNS},
            **{c: (c, "max") for c in MAX_COLUMNS},
            **{c: (c, _join_unique) for c in JOINED_COLUMNS}}
    out = ok.groupby(list(keys), dropna=False, sort=True).agg(**aggs).reset_index()
    n = out["n_clips"].where(out["n_clips"] > 0)
    out["flops_per_utt"] = out["total_flops"] / n
    out["clip_s"] = out["audio_s"] / n
    if "bucket" in out.columns:
        out["bucket_s"] = out["bucket"].map(bucket_seconds)
    return add_series(out, [k for k in keys if k not in ("bucket", "family")], series_exclude)


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
    return _ordered("bucket", df["bucket"].dropna().unique()) if "bucket" in df.columns else []


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


def stage_frame(df: pd.DataFrame, label: str = "series", per_utterance: bool = True) -> pd.DataFrame:
    """Long table (label, stage, seconds) for stacked stage bars; CTC models' decoder is the 'CTC head'."""
    n = df["n_clips"].where(df["n_clips"] > 0, 1) if per_utterance else 1
    wide = df.assign(**{stage: pd.to_numeric(df[col], errors="coerce") / n for col, stage in STAGES.items()})
    family = wide["family"] if "family" in wide.columns else ""
    long = wide.assign(label=wide[label], family=family).melt(
        id_vars=["label", "family"], value_vars=list(STAGES.values()), var_name="stage", value_name="seconds")
    long.loc[(long["stage"] == "decoder") & (long["family"] == "ctc"), "stage"] = CTC_DECODER
    return long[["label", "stage", "seconds"]]


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


# --- recommend ---------------------------------------------------------------------------------

def to_mib(n_bytes: float | None) -> float | None:
    return None if n_bytes is None else n_bytes / present.MIB


def custom_use_case(preset: UseCase, *, device: str | None, buckets: Sequence[str], batch_sizes: Sequence[int],
                    objective: str, max_latency_per_utt_s: float | None, max_rtf: float | None,
                    max_memory_mib: float | None, max_energy_per_audio_s_j: float | None) -> UseCase:
    """The preset with the page's constraints; named '(custom)' when they differ from it."""
    case = dataclasses.replace(
        preset, device=device, buckets=tuple(buckets), batch_sizes=tuple(int(b) for b in batch_sizes),
        objective=objective, max_latency_per_utt_s=max_latency_per_utt_s, max_rtf=max_rtf,
        max_peak_memory_bytes=None if max_memory_mib is None else max_memory_mib * present.MIB,
        max_energy_per_audio_s_j=max_energy_per_audio_s_j)
    return case if case == preset else dataclasses.replace(case, name=f"{preset.name} (custom)")


def objective_cost(use_case: UseCase) -> str:
    """The cost axis of the WER trade-off, chosen as recommend() does: the first ranked non-WER key."""
    ranked = [use_case.objective, use_case.tie_break, "latency"]
    return OBJECTIVE_COLUMNS[next(k for k in ranked if k != "wer")]


def recommend_points(rec: Recommendation, data: pd.DataFrame, cost: str) -> pd.DataFrame:
    """The candidates with a WER and a cost, marked 'pareto' and 'pick', with hardware and series labels."""
    cand = rec.candidates.dropna(subset=["wer", cost])
    if cand.empty:
        return cand.assign(pareto=pd.Series(dtype=bool), pick=pd.Series(dtype=bool), series=pd.Series(dtype=str))
    ok, _ = split_status(data)
    hw = ok.groupby(GROUP_KEYS, dropna=False)[["cpu_name", "gpu_name"]].agg(_join_unique).reset_index()
    points = cand.merge(hw, on=GROUP_KEYS, how="left").set_axis(cand.index)
    pick = rec.pick.name if rec.pick is not None else None
    points = points.assign(pareto=points.index.isin(rec.pareto.index), pick=points.index == pick)
    return add_series(points, [k for k in GROUP_KEYS])


CANDIDATE_COLUMNS = {"model": "model", "runtime": "runtime", "weights": "weights", "device": "device",
                     "precision": "precision", "batch_size": "batch", "bucket": "clips", "n_runs": "runs",
                     "wer_pct": "WER (%)", "latency_per_utt_s": "latency / utt (s)", "rtf": "RTF",
                     "energy_per_audio_s_j": "J per audio s", "energy_source": "energy source",
                     "peak_memory_mib": "peak memory (MiB)"}


def candidates_table(candidates: pd.DataFrame) -> pd.DataFrame:
    shown = candidates.assign(wer_pct=candidates["wer"] * 100,
                              peak_memory_mib=candidates["peak_memory_bytes"] / present.MIB)
    return shown[list(CANDIDATE_COLUMNS)].rename(columns=CANDIDATE_COLUMNS)
