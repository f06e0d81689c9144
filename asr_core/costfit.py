"""Fitting the cost model's few factors, and comparing its projections with measured and published figures.

CPU: the factors are fitted on the measured sweep rows of some models (whisper-tiny and -base by default) and
the other models' rows are predicted, stage by stage. GPU: fitted on published figures marked ``use == "fit"``
and compared with those marked ``"validate"``; a GPU sweep (``precomputed/gpu.parquet``, the CPU file's schema)
is compared exactly like the CPU rows. Nothing here measures: it reads tables and calls ``costmodel``.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from . import archflops as af
from .costmodel import (CPU, GPU, TRANSFORMERS, Batch, Factors, Fit, Hardware, ProjectionError,
                        check_request, decoder_step_seconds, find_hardware, project, stage_times)
from .models import CTRANSLATE2, OPENAI_WHISPER, WHISPER_CPP, ModelError
from .sweep_table import CELL_KEYS, aggregate

FIT_MODELS = ("openai/whisper-tiny", "openai/whisper-base")
STAGES = ("preprocess", "encoder", "decoder")
MEASURED_STAGES = {"preprocess": "preprocess_s", "encoder": "encoder_s", "decoder": "decoder_s"}
CELL_EXTRA = ("decoder_steps", "n_batches")  # per-cell medians the aggregation rule does not carry
# Published engines -> our runtime names (faster-whisper is CTranslate2 underneath).
ENGINE_RUNTIMES = {"transformers": TRANSFORMERS, "hf transformers": TRANSFORMERS, "faster-whisper": CTRANSLATE2,
                   "ctranslate2": CTRANSLATE2, "openai-whisper": OPENAI_WHISPER, "whisper": OPENAI_WHISPER,
                   "whisper.cpp": WHISPER_CPP}
PRECISION_NAMES = {"int8_float16": "int8_fp16", "float16": "fp16", "float32": "fp32", "bfloat16": "bf16"}
PUBLISHED_METRICS = ("rtfx", "latency_s", "energy_per_audio_s_j", "energy_j", "power_w")
PUBLISHED_COLUMNS = ["model", "engine", "precision", "batch_size", "hardware_id", "metric", "per", "published",
                     "projected", "ratio", "bound", "why_not", "source_title"]
LOWER_BOUND = "lower bound"  # how the published table's note marks a speed that is at most the engine's own
PRIOR_WIDTH = math.log(3.0)  # a GPU factor's prior is believed to within about a factor of 3
X0 = dict(compute_eff=0.5, bandwidth_eff=0.5, attention_eff=0.5, layer_overhead_s=1e-4, step_overhead_s=1e-3,
          preprocess_s_per_audio_s=1e-4)


# --- measured sweep rows -> workloads ---------------------------------------------------------------------------

def sweep_cells(df: pd.DataFrame, runtime: str = TRANSFORMERS) -> pd.DataFrame:
    """One row per measured cell (median over repeats, the sweep table's rule) of clean audio and this runtime,
    with the decoder steps and batch count the model needs."""
    ok = df[(df["status"] == "ok") & (df["runtime"] == runtime) & (df["noise"].fillna("") == "")]
    keys = [*CELL_KEYS, "clip_source"]
    cells = aggregate(ok, keys)
    extra = ok.groupby(keys, dropna=False)[list(CELL_EXTRA)].median().reset_index()
    return cells.merge(extra, on=keys, how="left")


def cell_batches(row: pd.Series, arch: af.Arch) -> list[Batch]:
    """The batches a measured cell ran: rows from the counted encoder FLOPs (Whisper windows) or the clips (CTC),
    each batch's decoder steps (or padded frames) from the recorded total, shared evenly."""
    b, clips = int(row["batch_size"]), int(row["n_clips"])
    if arch.family == af.CTC:
        rows = clips
        seconds = af.ctc_samples(arch, row["decoder_steps"] / rows) / af.SAMPLE_RATE
    else:
        enc = af.whisper_encoder(arch, "fp32").linear_flops
        per_clip = row.get("encoder_flops_per_clip", math.nan)
        rows = int(round(per_clip * clips / enc)) if per_clip == per_clip else (
            int(row["n_batches"]) if b == 1 else clips)
        seconds = af.WHISPER_WINDOW_S
    steps = 0.0 if arch.family == af.CTC else row["decoder_steps"] / rows
    sizes = [b] * (rows // b) + ([rows % b] if rows % b else [])
    return [Batch(n, seconds, steps) for n in sizes]


def project_cell(row: pd.Series, hw: Hardware, f: Factors) -> dict[str, float]:
    arch = af.arch_of(row["model"])
    stages = stage_times(arch, hw, row["precision"], f, cell_batches(row, arch))
    return {s: stages[s].seconds for s in STAGES} | {f"{s}_bound": stages[s].bound for s in STAGES}


# --- fitting -------------------------------------------------------------------------------------------------------

def _factors(x: np.ndarray, names: Sequence[str], base: dict[str, float], source: str) -> Factors:
    values = {**base, **dict(zip(names, np.exp(x)))}
    return Factors(**values, source=source)


def fit_cells(cells: pd.DataFrame, hw: Hardware, source: str, idle_share: float = 0.0) -> Factors:
    """Least squares on log(projected / measured) of every stage of every cell, for the factors of X0: compute,
    bandwidth and attention efficiency, the overheads per layer and per decoder step, and the preprocessing cost
    per padded audio second."""
    from scipy.optimize import least_squares  # scipy comes with librosa; only fitting needs it
    names = list(X0)
    archs = {m: af.arch_of(m) for m in cells["model"].unique()}
    work = [(r, archs[r["model"]], cell_batches(r, archs[r["model"]])) for _, r in cells.iterrows()]

    def residuals(x: np.ndarray) -> np.ndarray:
        f = _factors(x, names, {"idle_share": idle_share}, source)
        out = []
        for row, arch, batches in work:
            stages = stage_times(arch, hw, row["precision"], f, batches)
            out += [math.log(stages[s].seconds / row[MEASURED_STAGES[s]]) for s in STAGES]
        return np.array(out)

    x = least_squares(residuals, np.log([X0[n] for n in names]), method="lm").x
    return _factors(x, names, {"idle_share": idle_share}, source)


def speech_rate(df: pd.DataFrame) -> tuple[float, float]:
    """(decoder steps per second of speech at batch 1, padding per ln(batch)) from real-weight Whisper rows of
    the transformers runtime on clean audio: greedy decoding's own stopping, not a forced count."""
    real = df[(df["status"] == "ok") & (df["weights"] == "pretrained") & (df["runtime"] == TRANSFORMERS)
              & (df["family"] != af.CTC) & (df["noise"].fillna("") == "")]
    rate = real.assign(rate=real["decoder_steps"] / real["audio_s"])
    per = rate.groupby(["clip_source", "bucket", "batch_size"])["rate"].median().reset_index()
    one = per[per["batch_size"] == 1].set_index(["clip_source", "bucket"])["rate"]
    more = per[per["batch_size"] > 1].join(one.rename("rate1"), on=["clip_source", "bucket"]).dropna()
    k = ((more["rate"] / more["rate1"] - 1) / np.log(more["batch_size"])).median()
    return float(one.median()), float(k) if k == k else 0.0


# --- comparing with measured cells -----------------------------------------------------------------------------------

def compare_cells(cells: pd.DataFrame, hw: Hardware, f: Factors,
                  fit_models: Sequence[str] = FIT_MODELS) -> pd.DataFrame:
    """Measured vs projected seconds per stage and end to end for every cell; error = projected / measured - 1."""
    out = []
    for _, row in cells.iterrows():
        got = project_cell(row, hw, f)
        rec = {"model": row["model"], "bucket": row["bucket"], "batch_size": int(row["batch_size"]),
               "role": "fit" if row["model"] in fit_models else "held out"}
        for s in STAGES:
            rec[f"measured_{s}_s"], rec[f"projected_{s}_s"] = row[MEASURED_STAGES[s]], got[s]
            rec[f"{s}_error"] = got[s] / row[MEASURED_STAGES[s]] - 1
            rec[f"{s}_bound"] = got[f"{s}_bound"]
        measured, projected = (sum(rec[f"{k}_{s}_s"] for s in STAGES) for k in ("measured", "projected"))
        rec |= {"measured_total_s": measured, "projected_total_s": projected, "total_error": projected / measured - 1}
        out.append(rec)
    return pd.DataFrame(out)


def error_summary(comparison: pd.DataFrame, role: str = "held out") -> pd.DataFrame:
    """Median and worst absolute relative error per stage and end to end, over the rows of one role."""
    rows = comparison[comparison["role"] == role]
    return pd.DataFrame([{"stage": s, "rows": len(rows), "median_abs_error": rows[f"{s}_error"].abs().median(),
                          "worst_abs_error": rows[f"{s}_error"].abs().max()}
                         for s in (*STAGES, "total")])


# --- published figures --------------------------------------------------------------------------------------------

def beams(decoding: str) -> int:
    """'beam 5', 'beam_size=5' -> 5; greedy or unknown -> 1."""
    found = re.search(r"beam\D*(\d+)", str(decoding).lower())
    return int(found.group(1)) if found else 1


def runtime_of(engine: str) -> str | None:
    """Our runtime for a published engine name ('whisperx (faster-whisper / CTranslate2)' -> ctranslate2)."""
    name = str(engine).lower()
    for key, runtime in ENGINE_RUNTIMES.items():
        if name == key or name.startswith(key + " ") or f"({key}" in name or f" {key} " in f" {name} ":
            return runtime
    return None


@dataclass(frozen=True)
class Published:
    """What a published row asks the model for: the run, and which figure of it."""
    model: str
    hardware_id: str
    precision: str
    runtime: str
    batch_size: int
    clip_s: float
    n_clips: int
    beam: int
    metric: str
    unit: str  # "run", "encoder window", "decoder step", "batched token"
    notes: str = ""
    bound: bool = False  # the source's figure is a lower bound on the engine's speed (whole-CLI timing, say)


def published_request(row: pd.Series) -> Published:
    """The projection a published row corresponds to; ProjectionError (one sentence) when there is none."""
    metric, per = row["metric"], str(row.get("per", "") or "").lower()
    if metric not in PUBLISHED_METRICS:
        raise ProjectionError(f"metric {metric} compares two devices: not projected one by one")
    runtime = runtime_of(row["engine"])
    if runtime is None:
        raise ProjectionError(f"engine {row['engine']} is none of the runtimes the model has factors for")
    precision = PRECISION_NAMES.get(str(row["precision"]), str(row["precision"]))
    batch = int(row["batch_size"]) if pd.notna(row["batch_size"]) else 1
    notes = "" if pd.notna(row["batch_size"]) else "batch size not stated: 1 assumed"
    unit = ("encoder window" if "encoder pass" in per else "decoder step" if "decoder step" in per
            else "batched token" if "token" in per else "run")
    clip = float(row["clip_s"]) if pd.notna(row["clip_s"]) else (af.WHISPER_WINDOW_S if unit != "run" else math.nan)
    if not clip > 0:
        raise ProjectionError("no clip length is given, and Whisper's cost per second of audio depends on it")
    counted = re.search(r"(\d[\d,]*)\s+(utterances|queries|clips)", per)
    n = int(counted.group(1).replace(",", "")) if counted else batch
    return Published(row["model"], str(row["hardware_id"]), precision, runtime, batch, clip, n,
                     beams(row["decoding"]), metric, unit, notes, LOWER_BOUND in str(row.get("note", "")))


def published_value(req: Published, fit: Fit, table: dict[str, Hardware]) -> float:
    """The projected counterpart of a published figure (seconds, rtfx, joules or watts)."""
    if req.unit == "run":
        p = project(req.model, req.hardware_id, req.precision, req.batch_size, "30s", req.runtime,
                    clip_s=req.clip_s, n_clips=req.n_clips, beam=req.beam, fit=fit, table=table)
        return {"rtfx": p.rtfx, "latency_s": p.latency_s, "energy_per_audio_s_j": p.energy_per_audio_s_j,
                "energy_j": p.energy_j, "power_w": p.mean_power_w}[req.metric]
    arch, hw = check_request(req.model, req.hardware_id, req.precision, 1, "30s", req.runtime, table)
    f = fit.factors_for(hw.kind, req.runtime)
    if req.unit == "encoder window":
        return stage_times(arch, hw, req.precision, f, [Batch(1, af.WHISPER_WINDOW_S, 0)])["encoder"].seconds
    if req.unit == "decoder step":  # whisper.cpp's bench: 256 one-token calls at 0 to 255 past tokens
        return decoder_step_seconds(arch, hw, req.precision, f, 1, np.arange(256)).mean()
    return decoder_step_seconds(arch, hw, req.precision, f, 5, np.array([0]))[0] / 5  # 5 tokens in one call


def log_ratio(req: Published, projected: float, published: float) -> float:
    """log of projected over published time (or energy, power): > 0 when the model is slower or costlier."""
    return math.log(published / projected) if req.metric == "rtfx" else math.log(projected / published)


def compare_published(pub: pd.DataFrame, fit: Fit, table: dict[str, Hardware], use: str = "validate") -> pd.DataFrame:
    """Projected vs published for the rows marked `use`. time_ratio = projected / published time (for rtfx the
    inverse of the rtfx ratio), so > 1 always means the model is slower than published; energy rows likewise."""
    out = []
    for _, row in pub[pub["use"] == use].iterrows():
        rec = {"model": row["model"], "engine": row["engine"], "precision": row["precision"],
               "batch_size": row["batch_size"], "hardware_id": row["hardware_id"], "metric": row["metric"],
               "per": row.get("per", ""), "published": float(row["value"]), "projected": math.nan,
               "ratio": math.nan, "bound": LOWER_BOUND in str(row.get("note", "")), "why_not": "",
               "source_title": row["source_title"]}
        try:
            req = published_request(row)
            rec["projected"] = published_value(req, fit, table)
            rec["why_not"] = req.notes
        except ModelError as exc:
            rec["why_not"] = str(exc)
        if rec["projected"] == rec["projected"]:
            rec["ratio"] = (rec["published"] / rec["projected"] if row["metric"] == "rtfx"
                            else rec["projected"] / rec["published"])
        out.append(rec)
    return pd.DataFrame(out, columns=PUBLISHED_COLUMNS)


def fit_published(pub: pd.DataFrame, fit: Fit, table: dict[str, Hardware]) -> dict[str, Factors]:
    """GPU factors per runtime, fitted on the rows marked "fit" (least squares on log ratios, pulled towards
    the priors so that a runtime with one or two rows moves only what they can tell)."""
    rows = []
    for _, row in pub[pub["use"] == "fit"].iterrows():
        try:
            req = published_request(row)
            if find_hardware(req.hardware_id, table).kind == GPU:
                check_request(req.model, req.hardware_id, req.precision, req.batch_size, "30s", req.runtime, table)
                rows.append((req, float(row["value"])))
        except ModelError:
            continue
    runtimes = sorted({r.runtime for r, _ in rows})
    return {f"{GPU}/{rt}": _fit_runtime(rt, [(r, v) for r, v in rows if r.runtime == rt], fit, table)
            for rt in runtimes}


def _fit_runtime(runtime: str, rows: list[tuple[Published, float]], fit: Fit, table: dict[str, Hardware]) -> Factors:
    from scipy.optimize import least_squares  # scipy comes with librosa; only fitting needs it
    names = [n for n in X0 if n != "preprocess_s_per_audio_s"]
    base = fit.gpu_prior(runtime)
    prior = np.log([getattr(base, n) for n in names])
    source = f"fitted on {len(rows)} published GPU figures ({runtime}), pulled towards the priors"

    def factors(x: np.ndarray) -> Factors:
        return dataclasses.replace(base, **dict(zip(names, np.exp(x))), source=source)

    def residuals(x: np.ndarray) -> np.ndarray:
        trial = dataclasses.replace(fit, factors={**fit.factors, f"{GPU}/{runtime}": factors(x)})
        res = []
        for req, value in rows:
            r = log_ratio(req, published_value(req, trial, table), value)
            res.append(max(r, 0.0) if req.bound else r)  # a bound is met by any projection as fast or faster
        return np.array(res + list((x - prior) / PRIOR_WIDTH))

    return factors(least_squares(residuals, prior).x)
