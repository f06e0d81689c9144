"""Comparisons on the Transcribe page: class mode's ready comparisons, a repeated run's median and spread,
the session's runs side by side, and the shipped sweep's median beside a live figure.

Each compared row is a ``configs.RunRequest`` with its own model and settings; ``live.run_models`` runs them.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import pandas as pd

from asr_core import sweep_table
from asr_core.models import CTRANSLATE2, TRANSFORMERS
from asr_core.results import STATUS_OK, Result

from . import present
from .configs import RunRequest, config_of, result_labels
from .figures import Figure
from .inputs import MODEL_NAME, model_label

# class mode's ready comparisons, in the order the page offers them
SMALL_VS_LARGE, FP32_VS_INT8, BATCH_1_VS_8, CPU_VS_GPU = ("small vs large model", "fp32 vs int8", "batch 1 vs 8",
                                                          "CPU vs GPU")
SMALL_MODEL = "openai/whisper-tiny"  # where no local checkpoint is beside the repository
LARGE_MODEL = {"cpu": "openai/whisper-small", "cuda": "openai/whisper-large-v3-turbo"}  # large, yet quick enough
BASE_PRECISION = {"cpu": "fp32", "cuda": "fp16"}
BIG_BATCH = 8
# live figure label (its start) -> the sweep column it matches and how that is written
SWEEP_FIGURES = {"WER": "wer", "Latency per clip": "latency_per_utt_s", "RTF": "rtf",
                 "Energy per clip": "energy_per_utt_j", "Energy per audio second": "energy_per_audio_s_j"}
CLASS_FIGURES = ("WER", "Latency per clip", "Energy per clip")  # what class mode shows of a result, large
SWEEP_MATCH = ("runtime", "weights", "device", "precision", "batch_size", "bucket", "snr_db", "noise")
SWEEP_SAYS = "the precomputed sweep measured {} here"


# --- class mode: ready comparisons ----------------------------------------------------------------

def ready_comparisons(small: str, device: str, weights_for: Callable[[str], str],
                      gpu: bool) -> dict[str, list[RunRequest]]:
    """Class mode's comparisons, each as the rows it runs in one go, starting from the small model on device.

    weights_for(model): 'pretrained' where its weights can be had here, else 'synthetic' (timing only).
    int8 runs through CTranslate2, so both rows of "fp32 vs int8" use it and differ in precision alone.
    "CPU vs GPU" is offered only where a GPU exists.
    """
    def row(model: str = small, on: str = device, **settings) -> RunRequest:
        base = dict(precision=BASE_PRECISION[on], batch_size=1, runtime=TRANSFORMERS)
        return RunRequest(model, on, weights=weights_for(model), **{**base, **settings})
    comparisons = {
        SMALL_VS_LARGE: [row(), row(LARGE_MODEL[device])],
        FP32_VS_INT8: [row(precision="fp32", runtime=CTRANSLATE2), row(precision="int8", runtime=CTRANSLATE2)],
        BATCH_1_VS_8: [row(batch_size=1), row(batch_size=BIG_BATCH)],
    }
    if gpu:
        comparisons[CPU_VS_GPU] = [row(on="cpu"), row(on="cuda")]
    return comparisons


def rows_text(rows: Sequence[RunRequest]) -> str:
    """'whisper-tiny.en (local) vs openai/whisper-small': what a comparison runs, in a line."""
    return " vs ".join(f"{model_label(r.model_id)} ({r.settings})" for r in rows)


# --- repeated runs --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spread:
    """Median, lowest and highest of one figure over a configuration's repeated runs."""

    median: float
    low: float
    high: float


@dataclass(frozen=True)
class Shown:
    """One configuration of a run as the page shows it: the run standing for it and all its runs."""

    label: str
    result: Result  # of a repeated configuration, the run with the median latency
    runs: list[Result]


def by_configuration(results: Sequence[Result]) -> list[Shown]:
    """The results of one Run grouped by configuration, in the order they ran."""
    labels = result_labels(results)
    groups: dict[RunRequest, list[Result]] = {}
    for r in results:
        groups.setdefault(config_of(r), []).append(r)
    return [Shown(labels[config], _median_run(runs), runs) for config, runs in groups.items()]


def _median_run(runs: Sequence[Result]) -> Result:
    ok = sorted((r for r in runs if r.status == STATUS_OK), key=lambda r: r.latency_per_utt_s)
    return ok[(len(ok) - 1) // 2] if ok else runs[-1]


def spread(values: Sequence[float]) -> Spread:
    s = pd.Series([v for v in values if not present.is_missing(v)], dtype=float)
    return Spread(s.median(), s.min(), s.max()) if len(s) else Spread(math.nan, math.nan, math.nan)


def spread_text(runs: Sequence[Result]) -> str:
    """'Over 3 runs: latency per clip median 0.52 s (0.49–0.61 s); energy per clip median 12 J (11–14 J,
    estimate).' ('' for fewer than two finished runs)."""
    ok = [r for r in runs if r.status == STATUS_OK]
    if len(ok) < 2:
        return ""
    latency = spread([r.latency_per_utt_s for r in ok])
    energy = spread([r.energy_per_utt_j for r in ok])
    text = (f"Over {len(ok)} runs: latency per clip median {present.number(latency.median, 's')} "
            f"({present.number(latency.low)}–{present.number(latency.high, 's')})")
    if not math.isnan(energy.median):
        tag = present.energy_tag("+".join(dict.fromkeys(r.energy_source for r in ok)))
        text += (f"; energy per clip median {present.number(energy.median, 'J')} "
                 f"({present.number(energy.low)}–{present.number(energy.high, 'J')}, {tag})")
    return text + "."


def headline(figures: Sequence[Figure]) -> list[Figure]:
    """The figures class mode shows: accuracy, time and energy per clip."""
    return [f for f in figures if f.label.startswith(CLASS_FIGURES)]


# --- the session's runs side by side ----------------------------------------------------------------

def session_frame(runs: Sequence[tuple[str, Result]]) -> pd.DataFrame:
    """One row per finished run of the session, oldest first: run (its number and configuration, named by what
    differs between the session's runs), latency and energy per utterance, and the energy's source as the
    figure is labelled."""
    labels = result_labels([r for _, r in runs])
    rows = []
    for i, (clip, r) in enumerate(runs, start=1):
        if r.status != STATUS_OK:
            continue
        rows.append({"run": f"{i}. {labels[config_of(r)]}", "clip": clip, "latency_per_utt_s": r.latency_per_utt_s,
                     "energy_per_utt_j": r.energy_per_utt_j, "energy_source": present.energy_tag(r.energy_source)})
    return pd.DataFrame(rows, columns=["run", "clip", "latency_per_utt_s", "energy_per_utt_j", "energy_source"])


# --- the shipped sweep beside live figures ----------------------------------------------------------

def sweep_medians(sweep: pd.DataFrame) -> pd.DataFrame:
    """The sweep's medians per configuration (sweep_table.aggregate), its models named as the app names them."""
    if sweep.empty:
        return pd.DataFrame(columns=[MODEL_NAME, *SWEEP_MATCH, "n_runs", *SWEEP_FIGURES.values(), "energy_source"])
    medians = sweep_table.aggregate(sweep)
    return medians.assign(**{MODEL_NAME: [model_label(m) for m in medians["model"]]})


def sweep_row(medians: pd.DataFrame, r: Result) -> dict | None:
    """The sweep's medians for the configuration, clip length and noise of a live result (None when it has none)."""
    if medians.empty or r.status != STATUS_OK:
        return None
    match = medians[MODEL_NAME] == model_label(r.model)
    for col in SWEEP_MATCH:
        match &= medians[col] == getattr(r, col)
    found = medians[match]
    return found.iloc[0].to_dict() if len(found) else None


def with_sweep(figures: Sequence[Figure], row: dict | None) -> list[Figure]:
    """The figures, those the sweep also measured saying what it measured ('the precomputed sweep measured
    0.45 s here'), energy with its source."""
    if row is None:
        return list(figures)
    out = []
    for fig in figures:
        col = next((c for label, c in SWEEP_FIGURES.items() if fig.label.startswith(label)), None)
        value = row.get(col) if col else None
        out.append(fig if present.is_missing(value) else dataclasses.replace(fig, sweep=SWEEP_SAYS.format(
            _sweep_value(col, value, row.get("energy_source", "")))))
    return out


def _sweep_value(col: str, value: float, energy_source: str) -> str:
    if col == "wer":
        return present.percent(value)
    if col.startswith("energy"):
        return present.energy(value, energy_source)
    return present.number(value, "s" if col.endswith("_s") else "")


def sweep_caption(row: dict | None) -> str:
    """What the sweep figures beneath the live ones are: '' when the sweep has none for this configuration."""
    if row is None:
        return ""
    runs = int(row.get("n_runs", 0))
    return (f"Beneath a figure: the precomputed sweep's median over {runs} run(s) of the same model, runtime, "
            f"precision, device, batch size and weights, on other clips of this length ({row['bucket']}).")
