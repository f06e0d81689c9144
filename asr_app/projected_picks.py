"""Recommend's answers for devices nobody has measured yet: a GPU of the hardware table answered from the cost
model's projections (``asr_core.costmodel``), each pick saying so, with the figures others published on that
device shown beside it and the validation error the fit saw.

The ranking is ``asr_core.recommend``'s, on ``recommend.projected_cells``; measured and projected costs are ranked
together only when the visitor asks (``mix``).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd

from asr_core import hourly, recommend as rec
from asr_core.costmodel import GPU, PROJECTED, Fit, Hardware, project_grid
from asr_core.models import TRANSFORMERS, checkpoint_of
from asr_core.recommend import UseCase

from . import hardware_view
from .inputs import model_label
from .share import ANY

MIX_HELP = ("Off: a ranking compares one kind of cost, measured here or projected by the cost model. On: with "
            "device “any”, the CPU runs measured here and the GPUs' projections are ranked together; a "
            "projection's error can then decide the pick.")


def device_choices(measured: Sequence[str], table: Mapping[str, Hardware]) -> dict[str, str]:
    """Recommend's device choices, value -> label: any, the devices the sweep measured, then every GPU of the
    hardware table it did not, labelled projected."""
    gpus = [k for k, label in hardware_view.device_options(table).items() if table[k].kind == GPU]
    return {ANY: ANY, **{d: d for d in measured}, **{g: f"{g} ({PROJECTED})" for g in gpus}}


def is_projected(device: str | None, measured: Sequence[str], table: Mapping[str, Hardware]) -> bool:
    return bool(device) and device not in measured and device in table


def projected_rows(models: Sequence[str], devices: Sequence[str], use_case: UseCase, batch_sizes: Sequence[int],
                   buckets: Sequence[str], fit: Fit, table: Mapping[str, Hardware]) -> pd.DataFrame:
    """Projected candidates (recommend.projected_cells) of these models on these devices, at the use case's batch
    sizes and clip lengths (else the sweep's), fp16 on a GPU (hardware_view.AUTO), the transformers runtime."""
    frames = []
    for device in devices:
        precision = hardware_view.precision_for(table[device], hardware_view.AUTO)
        frames.append(project_grid(models, [device], [precision], use_case.batch_sizes or batch_sizes,
                                   use_case.buckets or buckets, TRANSFORMERS, fit=fit, table=dict(table)))
    grid = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return rec.projected_cells(grid)


def candidate_rows(measured_rows: pd.DataFrame, device: str | None, use_case: UseCase, mix: bool, fit: Fit,
                   table: Mapping[str, Hardware]) -> tuple[pd.DataFrame, bool]:
    """The rows to rank, and whether measured and projected are mixed: the sweep's rows; a projected GPU's
    projections; or, when asked (mix, device any), both, the GPUs being the CPU vs GPU view's defaults."""
    measured = sorted(measured_rows["device"].astype(str).unique())
    models = sorted(measured_rows["model"].astype(str).unique())
    batches = sorted(int(b) for b in measured_rows["batch_size"].unique())
    buckets = sorted(measured_rows["bucket"].astype(str).unique())
    target = use_case.device or device
    if is_projected(target, measured, table):
        return projected_rows(models, [target], use_case, batches, buckets, fit, table), False
    if mix and not target:
        gpus = [d for d in hardware_view.DEFAULT_DEVICES if d in table and table[d].kind == GPU]
        projected = projected_rows(models, gpus, use_case, batches, buckets, fit, table)
        return pd.concat([measured_rows, projected], ignore_index=True), True
    return measured_rows, False


def validation_note(pick: pd.Series | None, fit: Fit, table: Mapping[str, Hardware]) -> str:
    """For a projected pick: how far the cost model was off where it could be checked ('' for a measured pick)."""
    if pick is None or not rec.is_projected(pick) or pick["device"] not in table:
        return ""
    hw = table[pick["device"]]
    return f"Projected on the {hw.name}; the cost model's error {hardware_view.validation_short(fit, hw, str(pick['runtime']))}."


def published_beside(pick: pd.Series | None, costs_table: pd.DataFrame, costs: hourly.CostSettings) -> str:
    """What others published for the pick's checkpoint on the pick's device, in one sentence ('' if nothing):
    shown beside the projected answer, never ranked with it."""
    if pick is None or costs_table.empty:
        return ""
    rows = costs_table[(costs_table["model"] == checkpoint_of(str(pick["model"])))
                       & (costs_table["hardware_id"] == str(pick["device"])) & (costs_table["metric"] == "rtfx")]
    if rows.empty:
        return ""
    r = rows.iloc[0]
    speed = float(r["value"])
    batch = "" if pd.isna(r["batch_size"]) else f", batch {int(r['batch_size'])}"
    minutes = hourly.audio_hour(1 / speed, math.nan, "", r["hardware"], costs, hourly.PUBLISHED).processing_min
    return (f"Published for comparison: {model_label(str(pick['model']))} ran {speed:.0f}× faster than real time "
            f"({minutes:.2g} min per hour of audio) on the {r['hardware']} ({r['engine']}, {r['precision']}{batch}; "
            f"{r['source_title']}, {r['source_date']}).")


def caption(points: pd.DataFrame) -> str:
    """Where the candidates' costs come from, for the chart's caption: projected for named devices (never 'measured
    on'), or '' for measured points (sweep_views.caption says where they were measured)."""
    projected = points["energy_source"].map(rec.cost_kind) == PROJECTED if len(points) else pd.Series(dtype=bool)
    if not projected.any():
        return ""
    names = ", ".join(sorted({str(n) for n in points.loc[projected, "gpu_name"]}))
    return (f"Projected points: time and energy computed by the cost model for the {names}, not measured (no GPU "
            "has been measured yet); their WER is published, never measured on that device.")
