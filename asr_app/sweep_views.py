"""Sweep tables shaped for the Explore page's views: filters, series labels, trade-off points, the leaderboard,
WER against noise, and captions that say what the rows were measured on.

Reading, validating and aggregating the table is ``asr_core.sweep_table``'s job; drawing is ``charts``'s; this
module shapes the aggregates for the charts (``series`` labels name what varies).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import pandas as pd

from asr_core import buckets, published, sweep_table
from asr_core.recommend import pareto_front
from asr_core.sweep_table import CELL_KEYS

from . import present
from .inputs import MODEL_NAME, model_label

PUBLISHED_SUFFIX = " (published)"  # how a published series is named: never mistaken for a measured one
# The sweep uploader's own limit, in Streamlit's megabytes (MiB); sweep_table.read checks it again.
UPLOAD_LIMIT_MB = sweep_table.MAX_FILE_BYTES // sweep_table.MIB
# column -> label of its filter widget, in the order the page shows them
FILTERS = {"model": "Model", "device": "Device", "precision": "Precision", "weights": "Weights",
           "runtime": "Runtime", "bucket": "Clip length (bucket)", "batch_size": "Batch size", "host": "Machine"}
# leaderboard column -> its header, in the order shown (one row per configuration)
LEADERBOARD = {MODEL_NAME: "model", "runtime": "runtime", "weights": "weights", "precision": "precision",
               "device": "device", "batch_size": "batch", "bucket": "clips", "wer_pct": "WER (%)",
               "latency_per_utt_s": "latency / utt (s)", "rtf": "RTF", "energy_per_audio_s_j": "J per audio s",
               "energy_source": "energy source", "peak_memory_mib": "peak memory (MiB)", "n_runs": "runs"}


# --- filtering ---------------------------------------------------------------------------------

def value_label(col: str):
    """How a filter shows its values: models by friendly name, a blank machine as 'not recorded'."""
    if col == "model":
        return model_label
    if col == "host":
        return lambda v: str(v) or "not recorded"
    return str


def filter_options(df: pd.DataFrame) -> dict[str, list]:
    """Column -> the values present, in a natural order (buckets by length, batch sizes by number); the
    machine filter only when some rows name their machine (sweeps from before hosts were recorded do not)."""
    options = {col: _ordered(col, df[col].dropna().unique()) for col in FILTERS if col in df.columns}
    if not any(options.get("host", [])):
        options.pop("host", None)
    return options


def _ordered(col: str, values: Iterable) -> list:
    if col == "bucket":
        return buckets.bucket_order(values)
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
    df = with_model_names(df)
    if not varying or df.empty:
        return df.assign(series=df.get(MODEL_NAME, pd.Series("", index=df.index)).astype(str))
    label = df[varying].astype(str).apply(lambda row: " · ".join(_short(k, v) for k, v in row.items()), axis=1)
    return df.assign(series=label)


def with_model_names(df: pd.DataFrame) -> pd.DataFrame:
    """A 'model_name' column: registry ids as they are, a local folder by its name (never its path)."""
    return df.assign(**{MODEL_NAME: df["model"].astype(str).map(model_label)}) if "model" in df.columns else df


def _short(key: str, value: str) -> str:
    if key == "model":
        return model_label(value)
    if key == "batch_size":
        return f"batch {value}"
    if key == "snr_db":
        return "clean" if float(value) == float("inf") else f"SNR {float(value):g} dB"
    return value


def subset(rows: pd.DataFrame, **equals: object) -> pd.DataFrame:
    """The rows whose columns equal the given values (a value of None keeps every row)."""
    keep = pd.Series(True, index=rows.index)
    for col, value in equals.items():
        if value is not None:
            keep &= rows[col] == value
    return rows[keep]


def bucket_order(df: pd.DataFrame) -> list[str]:
    return buckets.bucket_order(df["bucket"].dropna().unique()) if "bucket" in df.columns else []


def with_wer(agg: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows that have a WER, and how many configurations have none (synthetic weights, no reference)."""
    has = agg["wer"].notna()
    return agg[has], int((~has).sum())


def published_points(table: pd.DataFrame, models: Iterable[str]) -> pd.DataFrame:
    """Every published WER of the checkpoints these (measured) models are, as chart points: x is the
    benchmark, series the checkpoint named as published. Drawn beside measured points, never averaged."""
    rows = published.rows_for_models(table, list(models)) if len(table) else pd.DataFrame()
    if rows.empty:
        return pd.DataFrame(columns=["model", "benchmark", "wer", "source", "note", "series", MODEL_NAME])
    rows = rows.assign(**{MODEL_NAME: rows["model"].map(model_label)})
    return rows.assign(series=rows[MODEL_NAME] + PUBLISHED_SUFFIX).reset_index(drop=True)


def published_caption(points: pd.DataFrame) -> str:
    """'published: ' and each source drawn, with what makes the figures unlike ours."""
    if points.empty:
        return ""
    sources = "; ".join(sorted(points["source"].astype(str).unique()))
    return (f"Hollow diamonds are published WER on full test sets (published: {sources}), one per checkpoint, "
            "source and benchmark; they are never averaged with the WER measured here, which is on this "
            "sweep's clips. Sources differ in normalisation and decoding: see each point's tooltip.")


def tradeoff(agg: pd.DataFrame, cost: str) -> pd.DataFrame:
    """Configurations with a WER and a cost, marked True in 'pareto' where none beats them on both."""
    points = agg.dropna(subset=["wer", cost])
    return points.assign(pareto=pareto_front(points, cost, "wer"))


def pareto_line(points: pd.DataFrame, cost: str) -> pd.DataFrame:
    """The front's points ordered by cost, to draw as a step line."""
    return points[points["pareto"]].sort_values(cost)


def leaderboard(agg: pd.DataFrame, extra: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per configuration with readable headers (LEADERBOARD, then extra: column -> header), most accurate
    first, then fastest."""
    columns = {**LEADERBOARD, **(extra or {})}
    shown = with_model_names(agg).assign(wer_pct=agg["wer"] * 100,
                                         peak_memory_mib=agg["peak_memory_bytes"] / present.MIB)
    shown = shown.sort_values(["wer_pct", "latency_per_utt_s"], na_position="last")
    return shown[list(columns)].rename(columns=columns).reset_index(drop=True)


# --- colours ------------------------------------------------------------------------------------

def colour_domain(*tables: pd.DataFrame) -> list[str]:
    """The sorted series of these tables: one fixed colour per series across a tab's charts."""
    return sorted({str(s) for t in tables if "series" in t.columns for s in t["series"].dropna()})


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


# --- WER against signal-to-noise ratio ----------------------------------------------------------

CLEAN_LABEL = "clean"  # the x label of snr_db = inf (no noise added), drawn at the right end


def snr_count(ok: pd.DataFrame) -> int:
    """How many SNRs the rows hold (NaN, unknown, left out): the WER-vs-SNR chart needs more than one."""
    return int(ok["snr_db"].dropna().nunique()) if "snr_db" in ok.columns else 0


def wer_by_snr(ok: pd.DataFrame) -> pd.DataFrame:
    """Median WER per configuration, bucket and SNR, with an 'snr' label ("clean" for inf) and a 'series'
    naming what varies besides the SNR; the clean point joins the line of every noise kind measured."""
    agg = sweep_table.aggregate(ok[ok["snr_db"].notna()], keys=sweep_table.WER_KEYS)
    agg = agg[agg["wer"].notna()]
    clean = agg["snr_db"] == float("inf")
    kinds = sorted(k for k in agg.loc[~clean, "noise"].unique() if k) or [""]
    out = pd.concat([agg[~clean], *[agg[clean].assign(noise=k) for k in kinds]], ignore_index=True)
    keys = [k for k in sweep_table.WER_KEYS if k != "snr_db"]
    return add_series(out, keys).assign(snr=out["snr_db"].map(snr_label))


def snr_label(snr_db: float) -> str:
    return CLEAN_LABEL if snr_db == float("inf") else f"{snr_db:g} dB"


def snr_order(frame: pd.DataFrame) -> list[str]:
    """The SNR labels noisiest first, clean last."""
    return [snr_label(v) for v in sorted(frame["snr_db"].unique())] if "snr_db" in frame.columns else []
