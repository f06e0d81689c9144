"""Validate the cost model: fit its few factors on some measured rows, predict the rest, and compare it with
published GPU figures. Prints plain tables (or --json); --write-fit stores the factors and the errors seen in
precomputed/costmodel_fit.json, which `asr-profile project` reads.

    python benchmarks/validate_costmodel.py                       # CPU sweep + published figures
    python benchmarks/validate_costmodel.py --write-fit           # ... and store the fit
    python benchmarks/validate_costmodel.py --sweep precomputed/gpu.parquet   # a GPU sweep, compared the same way
    python benchmarks/validate_costmodel.py --published my.csv    # another published table (same columns)

Nothing is timed here: the measured figures come from the sweep file, the published ones from their table.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asr_core import costfit as cf  # noqa: E402
from asr_core import costmodel as cm  # noqa: E402
from asr_core.models import REGISTRY, TRANSFORMERS  # noqa: E402
from asr_core.sweep_table import read  # noqa: E402

DEFAULT_SWEEP = ROOT / "precomputed" / "cpu.parquet"
SHAPE_MODELS = ("openai/whisper-tiny", "openai/whisper-base", "openai/whisper-small", "openai/whisper-medium",
                "openai/whisper-large-v3-turbo", "facebook/wav2vec2-base-960h")
SHAPE_GPU, SHAPE_GPU_PRECISION = "T4", "fp16"  # the 2025 TED-LIUM study: Colab CPU against a T4
RATIO_AIM = 1.5


def _clean(value):
    """JSON-safe: NaN and missing values as null, numpy and pandas scalars as plain Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def machine_warning(df: pd.DataFrame, hw: cm.Hardware) -> str:
    """A sentence when the sweep's CPU is not the one the hardware row measured (empty when they agree)."""
    measured = sorted({str(c) for c in df["cpu_name"].dropna() if str(c)})
    if hw.hardware_id != cm.THIS_CPU or not measured or all(c in hw.name for c in measured):
        return ""
    return (f"the sweep was measured on {', '.join(measured)}, the {hw.hardware_id} row on {hw.name}: the fitted "
            f"efficiencies absorb the difference (so CPU projections still follow the sweep), but rerun "
            f"benchmarks/cpu_roofline.py on the measuring machine and refit to make them physical")


def hardware_for_sweep(df: pd.DataFrame, table: dict[str, cm.Hardware]) -> cm.Hardware:
    """The hardware-table row a sweep was measured on: this-cpu for CPU rows, else the GPU whose id its
    gpu_name contains ('NVIDIA H100 80GB HBM3' -> H100-SXM)."""
    devices = set(df["device"])
    if devices == {"cpu"}:
        return table[cm.THIS_CPU]
    name = " ".join(sorted(set(df["gpu_name"].dropna()))).upper()
    found = [h for k, h in table.items() if h.kind == cm.GPU and k.split("-")[0].upper() in name]
    if len(found) != 1:
        raise SystemExit(f"error: cannot tell which hardware-table row the sweep's GPU ({name or 'unnamed'}) is: "
                         f"add it to {cm.HARDWARE_CSV.name}.")
    return found[0]


def load_published(path: str | None) -> pd.DataFrame | None:
    """The published cost table (asr_core.published.load_costs), or another file of its columns."""
    from asr_core import published
    if path:
        return published.load_costs(path)
    try:
        return published.load_costs()
    except (OSError, ValueError) as exc:
        print(f"(no published cost table: {exc})")
        return None


def sweep_validation(df: pd.DataFrame, hw: cm.Hardware, fit_models: list[str]) -> tuple[cm.Factors, pd.DataFrame]:
    """Factors fitted on the fit models' cells of the sweep (transformers, synthetic weights: forced decoder
    lengths), and every cell compared with its projection."""
    cells = cf.sweep_cells(df, TRANSFORMERS)
    cells = cells[cells["weights"] == "synthetic"]
    source = (f"fitted on {len(cells[cells['model'].isin(fit_models)])} measured cells of "
              f"{', '.join(m.split('/')[-1] for m in fit_models)} ({hw.kind}, {TRANSFORMERS}, against the "
              f"{hw.hardware_id} row{' (provisional)' if hw.provisional else ''})")
    factors = cf.fit_cells(cells[cells["model"].isin(fit_models)], hw, source)
    return factors, cf.compare_cells(cells, hw, factors, fit_models)


def speedup_shape(fit: cm.Fit, table: dict[str, cm.Hardware]) -> pd.DataFrame:
    """Projected T4 (fp16) over this CPU (fp32) speed-up per model, batch 1, one 30 s clip."""
    rows = []
    for m in SHAPE_MODELS:
        cpu = cm.project(m, cm.THIS_CPU, "fp32", 1, "30s", fit=fit, table=table)
        gpu = cm.project(m, SHAPE_GPU, SHAPE_GPU_PRECISION, 1, "30s", fit=fit, table=table)
        rows.append({"model": m, "params_m": REGISTRY[m].params_m, "cpu_s": cpu.latency_s, "t4_s": gpu.latency_s,
                     "speedup": cpu.latency_s / gpu.latency_s, "cpu_j": cpu.energy_j, "t4_j": gpu.energy_j})
    return pd.DataFrame(rows)


def summary_phrase(summary: pd.DataFrame, what: str) -> str:
    total = summary[summary["stage"] == "total"].iloc[0]
    return (f"{what}: median error {total['median_abs_error']:.0%} end to end, worst {total['worst_abs_error']:.0%} "
            f"({int(total['rows'])} cells)")


def ratio_phrase(comparison: pd.DataFrame, what: str) -> str:
    """Median and worst factor off over the figures that are values; bounds counted apart (met or not)."""
    done = comparison[comparison["ratio"].notna()]
    values, bounds = done[~done["bound"]], done[done["bound"]]
    if done.empty:
        return f"{what}: no figure could be projected"
    spread = values["ratio"].map(lambda x: max(x, 1 / x))
    met = (bounds["ratio"] <= 1).sum()
    head = (f"median {spread.median():.2f}x off, worst {spread.max():.2f}x ({len(values)} figures; "
            f"{(spread <= RATIO_AIM).sum()} within {RATIO_AIM}x)" if len(values) else "no exact figure")
    return f"{what}: {head}" + (f"; {met} of {len(bounds)} lower bounds met" if len(bounds) else "")


def percent(frame: pd.DataFrame) -> pd.DataFrame:
    """Absolute errors (fractions) as percentages, for printing."""
    cols = [c for c in frame.columns if c in ("median_abs_error", "worst_abs_error", "median", "worst")]
    return frame.assign(**{c: frame[c].map(lambda x: f"{x:.0%}") for c in cols})


def short_reason(why: str) -> str:
    """A refusal's gist for the table (the full sentence is in --json)."""
    if why.startswith("Unknown hardware"):
        return "device not in hardware.csv"
    return why.split(",")[0] if why.startswith("no clip length") else why


def published_validation(published: pd.DataFrame, table: dict[str, cm.Hardware]) -> dict[str, dict]:
    """Per device kind and runtime: how far the projections of published figures were."""
    out = {}
    done = published[published["ratio"].notna()].assign(
        kind=lambda d: d["hardware_id"].map(lambda h: table[h].kind if h in table else ""),
        runtime=lambda d: d["engine"].map(cf.runtime_of))
    for (kind, runtime), group in done.groupby(["kind", "runtime"]):
        exact = group[~group["bound"]]["ratio"].map(lambda x: max(x, 1 / x))
        out[f"{kind}/{runtime}"] = {"summary": ratio_phrase(group, f"against published {kind} figures ({runtime})"),
                                    "median_ratio": exact.median(), "worst_ratio": exact.max()}
    return out


def show(title: str, frame: pd.DataFrame, floats: str = "{:.3g}") -> None:
    """A plain table: relative errors as signed percentages, other numbers to three figures."""
    frame = frame.copy()
    for col in [c for c in frame.columns if c.endswith("_error") and pd.api.types.is_float_dtype(frame[c])]:
        frame[col] = frame[col].map(lambda x: f"{x:+.0%}" if x == x else "")
    print(f"\n## {title}\n")
    print(frame.to_string(index=False, float_format=lambda x: floats.format(x)) if len(frame) else "(none)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default=str(DEFAULT_SWEEP), help="measured sweep file (CPU or GPU rows)")
    parser.add_argument("--fit-models", default=",".join(cf.FIT_MODELS), help="models the factors are fitted on")
    parser.add_argument("--published", help="published cost table (default: precomputed/published_costs.csv)")
    parser.add_argument("--hardware", default=str(cm.HARDWARE_CSV), help="hardware table")
    parser.add_argument("--write-fit", action="store_true", help=f"store the fit in {cm.FIT_JSON.name}")
    parser.add_argument("--fit-out", default=str(cm.FIT_JSON), help="where --write-fit writes")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args(argv)
    table = cm.load_hardware(args.hardware)
    df = read(args.sweep)
    hw = hardware_for_sweep(df, table)
    fit_models = [m for m in args.fit_models.split(",") if m]
    # 1. The measured sweep: fit on some models, predict the others at every bucket and batch size.
    factors, comparison = sweep_validation(df, hw, fit_models)
    # a CPU run keeps what an earlier GPU-sweep run fitted, and the other way round
    kept = cm.load_fit(args.fit_out) if Path(args.fit_out).exists() else cm.Fit({}, math.nan, math.nan)
    steps, pad = cf.speech_rate(read(DEFAULT_SWEEP))
    held, fitted = cf.error_summary(comparison), cf.error_summary(comparison, "fit")
    where = hw.kind if hw.hardware_id == cm.THIS_CPU else hw.hardware_id
    validation = {**kept.validation, f"{where}/{TRANSFORMERS}": {
        "summary": summary_phrase(held, f"against measured {hw.kind} rows of held-out models"),
        "median_abs_error": held["median_abs_error"].iloc[-1], "worst_abs_error": held["worst_abs_error"].iloc[-1]}}
    fit = cm.Fit({**kept.factors, f"{hw.kind}/{TRANSFORMERS}": factors}, steps, pad, validation,
                 note=f"fitted by benchmarks/validate_costmodel.py on {Path(args.sweep).name}")
    # 2. Published figures: GPU factors fitted on the rows marked "fit", compared on those marked "validate".
    pub = load_published(args.published)
    published = pd.DataFrame(columns=cf.PUBLISHED_COLUMNS)
    if pub is not None:
        fit = cm.Fit({**fit.factors, **cf.fit_published(pub, fit, table)}, steps, pad, validation, fit.note)
        published = cf.compare_published(pub, fit, table)
        validation |= published_validation(published, table)
        fit = cm.Fit(fit.factors, steps, pad, validation, fit.note)
    shape = (speedup_shape(fit, table) if cm.THIS_CPU in table and SHAPE_GPU in table
             and f"{cm.CPU}/{TRANSFORMERS}" in fit.factors else pd.DataFrame())
    if args.write_fit:
        cm.save_fit(fit, args.fit_out)
    factor_table = pd.DataFrame([{"key": k, **{n: v for n, v in vars(f).items()}} for k, f in fit.factors.items()])
    if args.json:
        print(json.dumps(_clean({"kind": cm.PROJECTED, "hardware": hw.hardware_id, "provisional": hw.provisional,
                                 "machine_warning": machine_warning(df, hw), "factors": factor_table.to_dict("records"),
                                 "steps_per_audio_s": steps, "padding_per_log_batch": pad,
                                 "cells": comparison.to_dict("records"), "held_out_summary": held.to_dict("records"),
                                 "fit_summary": fitted.to_dict("records"), "published": published.to_dict("records"),
                                 "speedup_shape": shape.to_dict("records"), "validation": validation}), indent=1))
        return 0
    report(hw, fit, factor_table, comparison, held, fitted, published, shape, args, machine_warning(df, hw))
    return 0


def report(hw, fit, factor_table, comparison, held, fitted, published, shape, args, warning: str) -> None:
    print(f"# Cost model validation (every projected figure is `{cm.PROJECTED}`)\n")
    print(f"sweep: {args.sweep}; hardware row: {hw.hardware_id} ({hw.name})"
          + ("; PROVISIONAL microbenchmark (loaded machine)" if hw.provisional else ""))
    if warning:
        print(f"note: {warning}")
    print(f"decoder steps per second of speech (batch 1, real weights): {fit.steps_per_audio_s:.2f}; "
          f"padding per ln(batch): {fit.padding_per_log_batch:.3f}")
    show("Fitted factors", factor_table, "{:.4g}")
    cols = ["model", "bucket", "batch_size", "role", "measured_total_s", "projected_total_s", "preprocess_error",
            "encoder_error", "decoder_error", "total_error", "encoder_bound", "decoder_bound"]
    show("Measured vs projected, per cell (error = projected / measured - 1)",
         comparison.sort_values(["role", "model", "bucket", "batch_size"])[cols])
    show("Held-out models: absolute relative error per stage", percent(held))
    show("Fit models (in-sample): absolute relative error per stage", percent(fitted))
    per_model = comparison.groupby("model")["total_error"].agg(
        median=lambda e: e.abs().median(), worst=lambda e: e.abs().max()).reset_index()
    show("End-to-end absolute error per model", percent(per_model))
    cols = ["model", "engine", "precision", "batch_size", "hardware_id", "metric", "published", "projected", "ratio",
            "bound", "why_not"]
    shown = published[cols].assign(why_not=published["why_not"].map(short_reason))
    show("Published figures marked 'validate': projected vs published (ratio > 1: the model is slower / costlier)",
         shown)
    show(f"Projected {SHAPE_GPU} ({SHAPE_GPU_PRECISION}) over this CPU (fp32) speed-up, batch 1, one 30 s clip",
         shape, "{:.3g}")
    if len(shape):
        whisper = shape[shape["model"].str.contains("whisper")].sort_values("params_m")
        grows = whisper["speedup"].is_monotonic_increasing
        print(f"\nspeed-up grows with model size (Whisper, by parameters): {'yes' if grows else 'no'}")
    for key, v in fit.validation.items():
        print(f"validation ({key}): {v['summary']}")


if __name__ == "__main__":
    raise SystemExit(main())
