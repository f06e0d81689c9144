"""Explore's CPU vs GPU view: each model's projected time per stage and energy per audio hour on the devices
picked, beside the sweep's measured CPU rows and the figures others published, as points of three kinds.

The projections are ``asr_core.costmodel``'s, the published figures ``asr_core.published.load_costs``', the
per-hour conversion ``asr_core.hourly``'s. Nothing here averages or ranks one kind with another: each point keeps
its ``kind`` (``measured``, ``projected``, ``published``) in the frame, the tooltips and the exported table, and
the projected points carry the validation error the cost model's fit saw for their device and runtime.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import pandas as pd

from asr_core import hourly
from asr_core.costmodel import CPU, PROJECTED, THIS_CPU, Fit, Hardware, project_grid
from asr_core.hourly import MEASURED, PUBLISHED, CostSettings
from asr_core.models import RUNTIMES, TRANSFORMERS, checkpoint_of, family_of
from asr_core.sweep_table import CTC_DECODER, STAGE_COLUMNS

from .inputs import model_label

DEFAULT_DEVICES = (THIS_CPU, "T4", "A100-80GB", "H100-SXM")
AUTO = "auto"  # the precision picker's default: fp16 on a GPU, fp32 on a CPU
PRECISIONS = (AUTO, "fp32", "fp16", "bf16", "int8")
# published metrics that give a time per audio second; energy_j needs the audio seconds its 'per' names
AUDIO_SECONDS = re.compile(r"\(([\d.,]+)\s*s of audio\)")
COLUMNS = ["kind", "device", "device_name", "device_id", "model", "model_name", "runtime", "precision", "batch_size", "bucket",
           "rtf", "minutes_per_audio_h", "wh_per_audio_h", "co2e_g_per_audio_h", "electricity_per_audio_h",
           "energy_kind", "source", "validation_error", "note"]
MEASURED_DEVICE = "{cpu} (measured)"  # the x label of the sweep's CPU: short, its kind in it


def device_options(table: Mapping[str, Hardware]) -> dict[str, str]:
    """Hardware id -> its name, this CPU first, for the devices the table has a peak for (others cannot be projected)."""
    usable = {k: hw for k, hw in table.items() if hw.peak_flops}
    order = sorted(usable, key=lambda k: (k != THIS_CPU, usable[k].kind != CPU, k))
    return {k: usable[k].name for k in order}


def precision_for(hw: Hardware, precision: str) -> str:
    """The precision projected on a device: auto is fp16 on a GPU that has it, else fp32."""
    if precision != AUTO:
        return precision
    return "fp16" if hw.kind != CPU and "fp16" in hw.peak_flops else "fp32"


def projected(models: Sequence[str], device_ids: Sequence[str], batch_size: int, bucket: str, runtime: str,
              precision: str, fit: Fit, table: Mapping[str, Hardware]) -> tuple[pd.DataFrame, list[str]]:
    """Projection rows (costmodel.project_grid) for each model on each device, and one sentence per refusal."""
    frames, refused = [], []
    for device in device_ids:
        hw = table[device]
        grid = project_grid(models, [device], [precision_for(hw, precision)], [batch_size], [bucket], runtime,
                            fit=fit, table=dict(table))
        bad = grid[grid["refused"] != ""]
        refused += sorted({f"{model_label(m)} on {hw.name}: {why}" for m, why in zip(bad["model"], bad["refused"])})
        frames.append(grid[grid["refused"] == ""])
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return rows, refused


def projected_points(rows: pd.DataFrame, costs: CostSettings, fit: Fit, table: Mapping[str, Hardware]) -> pd.DataFrame:
    """The projections as chart points, their per-hour figures projected, the validation error beside each."""
    out = []
    for r in rows.to_dict("records"):
        hw = table[r["hardware_id"]]
        hour = hourly.from_projection(r["rtf"], r["energy_per_audio_s_j"], hw.name, costs)
        out.append(_point(PROJECTED, hw.hardware_id, hw.name, hw.hardware_id, r, hour, source=f"cost model; {r['factors_source']}; "
                          f"{r['power_source']}", validation=validation_short(fit, hw, r["runtime"]), note=r["notes"]))
    return pd.DataFrame(out, columns=COLUMNS)


def measured_cells(cells: pd.DataFrame, runtime: str, batch_size: int, bucket: str) -> pd.DataFrame:
    """The sweep's aggregated CPU cells of this runtime, batch size and bucket, on clean audio."""
    keep = (cells["runtime"] == runtime) & (cells["batch_size"] == batch_size) & (cells["bucket"] == bucket)
    keep &= cells["device"].astype(str).str.startswith("cpu")
    if "snr_db" in cells.columns:
        keep &= cells["snr_db"].fillna(math.inf) == math.inf
    return cells[keep]


def measured_points(cells: pd.DataFrame, costs: CostSettings) -> pd.DataFrame:
    """Measured cells (measured_cells) as chart points, their per-hour figures of the kinds the sweep gives."""
    out = []
    for r in cells.to_dict("records"):
        hour = hourly.from_row(r, costs)
        cpu = r.get("cpu_name") or "CPU"
        out.append(_point(MEASURED, MEASURED_DEVICE.format(cpu=cpu), f"{cpu} (the sweep's CPU)", "sweep", r, hour, source=f"this project's sweep; energy: {r['energy_source']}",
                          validation="", note=f"{r['weights']} weights, medians over {r.get('n_runs', 1)} run(s)"))
    return pd.DataFrame(out, columns=COLUMNS)


def published_points(costs_table: pd.DataFrame, models: Iterable[str], device_ids: Sequence[str],
                     hardware: Mapping[str, Hardware], costs: CostSettings) -> pd.DataFrame:
    """Published speed (RTFx) and energy per audio second of these models' checkpoints on these devices, one point
    per source and setting; a device named as the hardware table names it, so it sits beside its projection."""
    wanted = {checkpoint_of(str(m)): str(m) for m in models}
    rows = costs_table[costs_table["model"].isin(list(wanted)) & costs_table["hardware_id"].isin(list(device_ids))]
    out = []
    keys = ["model", "engine", "precision", "batch_size", "hardware_id", "dataset", "source_title"]
    for _, group in rows.groupby(keys, dropna=False, sort=True):
        first = group.iloc[0]
        rtfx = _published_metric(group, "rtfx")
        if not rtfx > 0:
            continue  # a time per run or per token is not a time per audio second
        device = hardware[first["hardware_id"]].name if first["hardware_id"] in hardware else first["hardware"]
        energy = _published_energy(group)
        hour = hourly.audio_hour(1 / rtfx, energy, PUBLISHED if math.isfinite(energy) else "", device, costs, PUBLISHED)
        r = {**first.to_dict(), "model": wanted[first["model"]], "runtime": first["engine"], "bucket": "",
             "rtf": 1 / rtfx}
        out.append(_point(PUBLISHED, first["hardware_id"], device, first["hardware_id"], r, hour,
                          source=f"{first['source_title']} ({first['source_date']}; {first['source_where']})",
                          validation="", note=f"{first['dataset']}; {first['note']}"))
    return pd.DataFrame(out, columns=COLUMNS)


def _published_metric(group: pd.DataFrame, metric: str) -> float:
    values = group.loc[group["metric"] == metric, "value"]
    return float(values.iloc[0]) if len(values) else math.nan


def _published_energy(group: pd.DataFrame) -> float:
    """Joules per audio second: given as such, or joules over the seconds of audio the 'per' text names."""
    direct = _published_metric(group, "energy_per_audio_s_j")
    if math.isfinite(direct):
        return direct
    for value, per in zip(group.loc[group["metric"] == "energy_j", "value"], group.loc[group["metric"] == "energy_j", "per"]):
        seconds = AUDIO_SECONDS.search(str(per))
        if seconds:
            return float(value) / float(seconds.group(1).replace(",", ""))
    return math.nan


def _point(kind: str, device: str, device_name: str, device_id: str, r: Mapping, hour: hourly.AudioHour, source: str,
           validation: str, note: str) -> dict:
    """One chart point: device is the x label (a hardware id, or the measured CPU), device_name in full."""
    batch = r.get("batch_size")
    return {"kind": kind, "device": device, "device_name": device_name, "device_id": device_id,
            "model": str(r["model"]),
            "model_name": model_label(str(r["model"])), "runtime": r.get("runtime", ""),
            "precision": r.get("precision", ""), "batch_size": None if pd.isna(batch) else int(batch),
            "bucket": r.get("bucket", ""), "rtf": hour.rtf, "minutes_per_audio_h": hour.processing_min,
            "wh_per_audio_h": hour.energy_wh, "co2e_g_per_audio_h": hour.co2e_g,
            "electricity_per_audio_h": hour.electricity_cost, "energy_kind": hour.energy_kind or "no figure",
            "source": source, "validation_error": validation, "note": note}


def points(measured: pd.DataFrame, projected_: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """The three kinds in one frame for the charts, each row labelled; devices in the order picked."""
    frames = [f for f in (measured, projected_, published) if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def device_order(frame: pd.DataFrame, device_ids: Sequence[str]) -> list[str]:
    """The x axis: the measured CPU first, then the devices as picked."""
    extra = [d for d in frame["device"].unique() if d not in device_ids] if len(frame) else []
    return [*sorted(extra), *device_ids]


def stage_minutes(rows: pd.DataFrame, cells: pd.DataFrame, device: str) -> pd.DataFrame:
    """Minutes per hour of audio in each stage (label, stage, seconds: holding minutes) on one device of the x
    axis: the measured CPU's cells, or a device's projections; one kind per chart, never summed together."""
    measured = device not in set(rows.get("hardware_id", pd.Series(dtype=str)))
    frame = cells if measured else rows[rows["hardware_id"] == device]
    if frame.empty:
        return pd.DataFrame(columns=["label", "stage", "seconds"])
    per_hour = 60.0 / frame["audio_s"].astype(float)
    wide = pd.DataFrame({stage: frame[col].astype(float) * per_hour for col, stage in STAGE_COLUMNS.items()})
    wide["label"] = frame["model"].astype(str).map(model_label) + f" ({MEASURED if measured else PROJECTED})"
    family = frame["family"] if "family" in frame.columns else frame["model"].map(family_of)
    wide["ctc"] = family.astype(str).str.contains("ctc").values
    long = wide.melt(id_vars=["label", "ctc"], var_name="stage", value_name="seconds")
    long.loc[(long["stage"] == "decoder") & long["ctc"], "stage"] = CTC_DECODER
    return long[["label", "stage", "seconds"]]


def validation_short(fit: Fit, hw: Hardware, runtime: str) -> str:
    """The validation error the fit saw for this device (or its kind) and runtime, in a few words."""
    for key in (f"{hw.hardware_id}/{runtime}", f"{hw.kind}/{runtime}"):
        seen = fit.validation.get(key)
        if seen and "median_abs_error" in seen:
            return (f"±{seen['median_abs_error']:.0%} median, {seen['worst_abs_error']:.0%} worst against held-out "
                    f"measured {hw.kind.upper()} cells")
        if seen and "median_ratio" in seen:
            return f"{seen['median_ratio']:.2g}× median, {seen['worst_ratio']:.2g}× worst against published figures"
    return f"unknown: no measured or published {runtime} figure on a {hw.kind.upper()} to check it against"


def validation_lines(fit: Fit, device_ids: Sequence[str], runtime: str, table: Mapping[str, Hardware]) -> list[str]:
    """One line per device kind picked: what the projections' validation error is (for the chart's subtitle)."""
    lines = {}
    for d in device_ids:
        if d in table:
            hw = table[d]
            lines.setdefault(validation_short(fit, hw, runtime), []).append(hw.hardware_id)
    return [f"Projected on {', '.join(ids)}: error {text}" for text, ids in lines.items()]


def export(frame: pd.DataFrame) -> pd.DataFrame:
    """The table a teacher downloads and reads: each figure's kind beside it ('projected' on every projected one;
    a measured time with an estimated energy says both)."""
    out = frame.assign(minutes_per_audio_h_kind=frame["kind"], wh_per_audio_h_kind=frame["energy_kind"])
    return out.drop(columns=["model"]).rename(columns={"model_name": "model"})  # a local folder by name, not its path


def runtimes() -> list[str]:
    """The runtimes a projection can be asked for, transformers first (the one the CPU fit is for)."""
    return [TRANSFORMERS, *[r for r in RUNTIMES if r != TRANSFORMERS]]


@dataclass(frozen=True, eq=False)
class View:
    """What the CPU vs GPU tab draws: the points of three kinds, the x axis, the validation lines, the measured cells
    (for the stage chart and the caption), the projection rows and the refusals (one sentence each)."""

    frame: pd.DataFrame
    order: list[str]
    validation: list[str]
    measured: pd.DataFrame
    rows: pd.DataFrame
    refused: list[str]


def view(rows: pd.DataFrame, refused: list[str], cells: pd.DataFrame, published_costs: pd.DataFrame,
         devices: Sequence[str], batch_size: int, bucket: str, runtime: str, costs: CostSettings, fit: Fit,
         table: Mapping[str, Hardware]) -> View:
    """The tab's view from the projections (``projected``), the sweep's aggregated cells and the published costs."""
    measured = measured_cells(cells, runtime, batch_size, bucket)
    models = sorted(cells["model"].astype(str).unique())
    frame = points(measured_points(measured, costs), projected_points(rows, costs, fit, table),
                   published_points(published_costs, models, devices, table, costs))
    return View(frame, device_order(frame, devices), validation_lines(fit, devices, runtime, table), measured, rows,
                refused)
