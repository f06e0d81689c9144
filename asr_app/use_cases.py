"""Use cases for the Recommend page: a use case from the page's constraints, and the candidates as points and a table.

The pick itself is ``asr_core.recommend``'s; this module only turns widgets into a ``UseCase`` and its
answer into chart points and a readable table.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import pandas as pd

from asr_core.recommend import (MEASURED_ONLY, MODEL, OBJECTIVE_COLUMNS, Accuracy, Recommendation, UseCase,
                                cost_kind)
from asr_core.sweep_table import CELL_KEYS

from . import present
from .sweep_views import add_series
from .inputs import model_label


ACCURACY_PARAM = "accuracy"  # the address parameter of the accuracy source
MODEL_MEMORY_NOTE = ("Its memory limit caps the model's own weights (parameters × bytes per parameter at the "
                     "precision), not the measuring server's process memory.")


def uses_published(accuracy: Accuracy) -> bool:
    return accuracy != MEASURED_ONLY


def memory_note(use_case: UseCase) -> str:
    return MODEL_MEMORY_NOTE if use_case.memory == MODEL else ""


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
    pick = rec.pick.name if rec.pick is not None else None  # candidates carry their hardware (recommend.summarise)
    points = cand.assign(pareto=cand.index.isin(rec.pareto.index), pick=cand.index == pick)
    return add_series(points, CELL_KEYS)


def readable(text: str, models: Iterable[str]) -> str:
    """A reason or caveat with each of these models as people read it (a local folder by its name, not its path)."""
    for model in sorted({str(m) for m in models}, key=len, reverse=True):  # longest first: no id inside another
        text = text.replace(model, model_label(model))
    return text


CANDIDATE_COLUMNS = {"model_name": "model", "cost_kind": "cost", "runtime": "runtime", "weights": "weights",
                     "device": "device",
                     "precision": "precision", "batch_size": "batch", "bucket": "clips", "n_runs": "runs",
                     "wer_pct": "WER (%)", "wer_source": "WER source", "measured_wer_pct": "measured WER (%)",
                     "published_wer_pct": "published WER (%)", "latency_per_utt_s": "latency / utt (s)", "rtf": "RTF",
                     "energy_per_audio_s_j": "J per audio s", "energy_source": "energy source",
                     "peak_memory_mib": "peak memory (MiB)", "model_mib": "model memory (MiB)"}


def candidates_table(candidates: pd.DataFrame) -> pd.DataFrame:
    """The candidates with readable headers; measured and published WER side by side, never averaged."""
    shown = candidates.assign(model_name=candidates["model"].astype(str).map(model_label),
                              cost_kind=candidates["energy_source"].map(cost_kind),
                              wer_pct=candidates["wer"] * 100,
                              measured_wer_pct=candidates["measured_wer"] * 100,
                              published_wer_pct=candidates["published_wer"] * 100,
                              peak_memory_mib=candidates["peak_memory_bytes"] / present.MIB,
                              model_mib=candidates["model_bytes"] / present.MIB)
    return shown[list(CANDIDATE_COLUMNS)].rename(columns=CANDIDATE_COLUMNS)
