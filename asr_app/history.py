"""The session's finished runs: their power traces and measured spans for the power chart, their stages, and the
runs table (as the page shows it, and as CSV, where each run's projected H100 figures sit in fields of their own,
labelled projected: ``projected.RECORD_FIELDS``)."""
from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from asr_core import sweep_table
from asr_core.results import RESULT_FIELDS, STATUS_OK, Result
from asr_core.sampler import PowerSample

from . import present, projected
from .configs import config_of, result_labels
from .inputs import model_label

# runs_table column -> the header the page shows
DISPLAY_COLUMNS = {"clip": "clip", "model": "model", "weights": "weights", "device": "device",
                   "runtime": "runtime", "precision": "precision", "batch_size": "batch", "status": "status",
                   "audio_s": "audio (s)",
                   "latency_s": "latency (s)", "rtf": "RTF", "wer_pct": "WER (%)", "energy_j": "energy (J)",
                   "energy_per_audio_s_j": "J per audio s", "energy_source": "energy source",
                   "peak_memory_mib": "peak memory (MiB)", "total_gflops": "GFLOPs",
                   "compile_s": "compile (s, not in latency)", "error": "error"}


def spans_of(results: Sequence[Result]) -> dict[str, tuple[float, float]]:
    """Each finished result's measured span on its power trace (the samples before it are the warm-up), by
    configuration label; of a repeated configuration, the last run's."""
    labels = result_labels(results)
    return {labels[config_of(r)]: (r.measured_from_s, r.measured_to_s) for r in results
            if r.power_trace and not math.isnan(r.measured_from_s)}


def traces_of(results: Sequence[Result]) -> tuple[dict[str, list[PowerSample]], dict[str, dict[str, str]]]:
    """The power traces kept in finished results, and each one's meter sources, for the power chart, by
    configuration label (of a repeated configuration, the last run's)."""
    labels = result_labels(results)
    traces = {labels[config_of(r)]: list(r.power_trace) for r in results if r.power_trace}
    sources = {labels[config_of(r)]: {"gpu": r.gpu_energy_source, "cpu": r.cpu_energy_source} for r in results}
    return traces, sources


def runs_table(runs: Sequence[tuple[str, Result]]) -> pd.DataFrame:
    """(clip label, result) pairs as one row each, every result field plus clip and peak memory, then the projected
    H100 figures (never in a measured field)."""
    rows = []
    for clip, r in runs:
        row = r.to_dict()
        row["hypotheses"] = " | ".join(r.hypotheses)
        row["references"] = " | ".join(r.references)
        row["peak_memory_bytes"] = sweep_table.peak_memory_bytes(r.device, r.peak_gpu_reserved_bytes, r.peak_rss_bytes)
        rows.append({"clip": clip, **row, **projected.record(r)})
    return pd.DataFrame(rows, columns=["clip", *RESULT_FIELDS, "peak_memory_bytes", *projected.RECORD_FIELDS])


def runs_csv(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode("utf-8")


def display_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The session table with readable units and headers (energy always beside its source)."""
    shown = table.assign(wer_pct=table["wer"] * 100, peak_memory_mib=table["peak_memory_bytes"] / present.MIB,
                         total_gflops=table["total_flops"] / 1e9,
                         model=[model_label(m) for m in table["model"]])
    return shown[list(DISPLAY_COLUMNS)].rename(columns=DISPLAY_COLUMNS)


def run_stages(results: Sequence[Result]) -> pd.DataFrame:
    """Seconds per stage of each finished run (the whole batch), labelled by configuration: sweep_table.stage_seconds."""
    ok = [r for r in results if r.status == STATUS_OK]
    labels = result_labels(ok)
    table = pd.DataFrame([r.to_dict() for r in ok], columns=RESULT_FIELDS)  # the figures alone: no projection
    named = len({r.batch_size for r in ok}) > 1  # the labels name the batch size where it differs; else add it
    table["label"] = [labels[config_of(r)] + ("" if named else f" · batch {r.batch_size}") for r in ok]
    return sweep_table.stage_seconds(table, label="label", per_utterance=False)


