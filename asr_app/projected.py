"""The projected GPU line under a run's measured figures: "On an H100 (projected): ~X s and ~Y J per clip" for the
same model, runtime, batch and clip length, from the cost model (``asr_core.costmodel``), with how it was projected
and the error its validation saw. Every figure here is projected, never measured: the line, its popover and the
fields it adds to the exported record (``RECORD_FIELDS``, kind "projected") all say so.
"""
from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

from asr_core import costmodel
from asr_core.buckets import BUCKET_30S, bucket_of
from asr_core.errors import ModelError
from asr_core.results import STATUS_OK, Result

from . import present
from .inputs import model_label

TARGET = "H100-SXM"  # hardware.csv's id of the GPU the line projects onto
TARGET_NAME = "an H100"
PREFIX = "projected_h100_"  # the exported record's fields of the line
# a precision a CPU run uses -> the one the GPU runs instead (a GPU runs Whisper in half precision, not fp32)
ON_GPU = {"fp32": "fp16"}
RECORD_FIELDS = tuple(PREFIX + f for f in ("kind", "precision", "latency_per_clip_s", "energy_per_clip_j",
                                           "validation_error", "note"))
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuLine:
    """The projected line of one run: its sentence, how it was projected (for a popover), its figures."""
    text: str
    how: str
    precision: str
    latency_per_clip_s: float
    energy_per_clip_j: float
    validation_error: str


def h100_line(r: Result) -> GpuLine | None:
    """The run projected onto an H100 (None for a run that did not finish, or one the cost model cannot project:
    logged)."""
    if r.status != STATUS_OK or not r.n_clips:
        return None
    precision = ON_GPU.get(r.precision, r.precision) if r.device == "cpu" else r.precision
    try:
        p = _project(r.model, precision, r.runtime, r.batch_size, round(r.audio_s / r.n_clips, 2), r.n_clips)
    except (ModelError, ValueError) as exc:
        log.info("no projected %s line for %s: %s", TARGET, r.model, exc)
        return None
    changed = f", in {precision} where this run used {r.precision} on the CPU" if precision != r.precision else ""
    per_clip_s, per_clip_j = p.latency_s / p.n_clips, p.energy_j / p.n_clips
    text = (f"On {TARGET_NAME} (projected{changed}): ~{present.number(per_clip_s, 's', 2)} and "
            f"~{present.number(per_clip_j, 'J', 2)} per clip")
    how = (f"Projected by this project's cost model, not measured: a roofline of the model's FLOPs and bytes against "
           f"the {p.hardware_name}'s datasheet peaks, with efficiency factors fitted on measured and published runs "
           f"(README: “CPU vs GPU: the cost model”). Validation error seen: {p.validation_error}.\n\n"
           f"```\n{costmodel.describe(p).replace(r.model, model_label(r.model))}\n```")  # no server path shown
    return GpuLine(text, how, precision, per_clip_s, per_clip_j, p.validation_error)


def record(r: Result) -> dict[str, object]:
    """The line's fields for the exported record (RECORD_FIELDS), kind 'projected'; empty figures without a line."""
    line = h100_line(r)
    if line is None:
        return dict.fromkeys(RECORD_FIELDS, math.nan) | {PREFIX + "kind": "", PREFIX + "note": ""}
    return {PREFIX + "kind": costmodel.PROJECTED, PREFIX + "precision": line.precision,
            PREFIX + "latency_per_clip_s": line.latency_per_clip_s, PREFIX + "energy_per_clip_j": line.energy_per_clip_j,
            PREFIX + "validation_error": line.validation_error,
            PREFIX + "note": f"projected by the cost model for {TARGET}, not measured"}


@functools.lru_cache(maxsize=256)  # the runs table asks again on every rerun; the fit and table are read once
def _project(model: str, precision: str, runtime: str, batch_size: int, clip_s: float,
             n_clips: int) -> costmodel.Projection:
    fit, table = shipped_cost_model()
    return costmodel.project(model, TARGET, precision, batch_size, bucket_of(clip_s) or BUCKET_30S, runtime,
                             clip_s=clip_s, n_clips=n_clips, fit=fit, table=table)


@functools.lru_cache(maxsize=1)
def shipped_cost_model() -> tuple[costmodel.Fit, dict]:
    """The cost model's fitted factors and the hardware table, read once per process (both are shipped files): for
    the H100 line here, and for Explore's and Recommend's projections (state.cost_model)."""
    return costmodel.load_fit(), costmodel.load_hardware()
