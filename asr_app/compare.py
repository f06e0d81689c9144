"""Comparisons on the Transcribe page: class mode's ready comparisons (models named by size, run in alternating
rounds), a repeated run's median and range and whether two configurations differ beyond it, the session's runs
side by side, and the shipped sweep's median beside a live figure.

Each compared row is a ``configs.RunRequest`` with its own model and settings; ``live.run_models`` runs them.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import pandas as pd

from asr_core import published, sweep_table
from asr_core.buckets import BUCKETS
from asr_core.models import CTRANSLATE2, TRANSFORMERS, checkpoint_of
from asr_core.results import STATUS_CANCELLED, STATUS_OK, Result

from . import present
from .configs import RunRequest, config_of, result_labels
from .figures import Figure
from .inputs import MODEL_NAME, model_label

# class mode's ready comparisons, in the order the page offers them (the first is named by sizes: size_vs)
FP32_VS_INT8, BATCH_1_VS_8, CPU_VS_GPU = "fp32 vs int8", "batch 1 vs 8", "CPU vs GPU"
READY_ROUNDS = 3  # a ready comparison runs its rows in turn this many times: median and range, not one draw
SIZE_PATTERN = re.compile(r"whisper-(tiny|base|small|medium|large(?:-v\d)?(?:-turbo)?)|(wav2vec2-(?:base|large))")
PUBLISHED_BENCHMARK = "LibriSpeech test-clean"  # the published WER a synthetic-weights model shows instead
SMALL_MODEL = "openai/whisper-tiny"  # where no local checkpoint is beside the repository
LARGE_MODEL = {"cpu": "openai/whisper-small", "cuda": "openai/whisper-large-v3-turbo"}  # large, yet quick enough
BASE_PRECISION = {"cpu": "fp32", "cuda": "fp16"}
BIG_BATCH = 8
# live figure label (its start) -> the sweep column it matches and how that is written
SWEEP_FIGURES = {"WER": "wer", "Latency per clip": "latency_per_utt_s", "RTF": "rtf",
                 "Energy per clip": "energy_per_utt_j", "Energy per audio second": "energy_per_audio_s_j"}
CLASS_FIGURES = ("WER",)  # what class mode shows of a result's own figures, large, beside the hour's
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
        size_vs(small, LARGE_MODEL[device]): [row(), row(LARGE_MODEL[device])],
        FP32_VS_INT8: [row(precision="fp32", runtime=CTRANSLATE2), row(precision="int8", runtime=CTRANSLATE2)],
        BATCH_1_VS_8: [row(batch_size=1), row(batch_size=BIG_BATCH)],
    }
    if gpu:
        comparisons[CPU_VS_GPU] = [row(on="cpu"), row(on="cuda")]
    return comparisons


def size_of(model_id: str) -> str:
    """A model named by its size, as a class says it: 'tiny', 'small', 'large-v3-turbo' (a local folder by the
    checkpoint it holds); its label where no size can be read."""
    found = SIZE_PATTERN.search(checkpoint_of(model_id))
    return next(g for g in found.groups() if g) if found else model_label(model_id)


def size_vs(small: str, large: str) -> str:
    """'tiny vs small': the comparison of two models by size."""
    return f"{size_of(small)} vs {size_of(large)}"


def ready_help(rows: Sequence[RunRequest]) -> str:
    """A ready comparison's button help: what it runs, and how."""
    return (f"Runs at once, {READY_ROUNDS} rounds, the rows in turn (so a busy machine slows each alike): "
            f"{rows_text(rows)}")


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
    rounds: int = 1  # how many runs were asked for (a stopped run has fewer)


def by_configuration(results: Sequence[Result], rounds: int = 1) -> list[Shown]:
    """The results of one Run grouped by configuration, in the order they first ran (rounds: runs asked of each)."""
    labels = result_labels(results)
    groups: dict[RunRequest, list[Result]] = {}
    for r in results:
        groups.setdefault(config_of(r), []).append(r)
    return [Shown(labels[config], _median_run(runs), runs, rounds) for config, runs in groups.items()]


def stopped_text(shown: Shown) -> str:
    """'Stopped after 1 of 3 runs: …' or 'Stopped after 2 of 4 batches: …' for a configuration whose run was stopped
    ('' when it ran to the end)."""
    ok = [r for r in shown.runs if r.status == STATUS_OK]
    stopped = any(r.status == STATUS_CANCELLED for r in shown.runs) or len(ok) < shown.rounds
    if not stopped:
        return ""
    if shown.rounds > 1 and ok:
        return (f"Stopped after {len(ok)} of {shown.rounds} runs: the figures are from the "
                f"{'run' if len(ok) == 1 else 'median run'} that finished.")
    r = shown.result
    if r.status == STATUS_CANCELLED and r.n_clips:  # a run stopped between batches: its note says how far it got
        note = r.notes.split(";")[0]
        return note[:1].upper() + note[1:] + "."
    return r.error or "Stopped before the first clip finished: nothing measured."


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
    """The figures class mode shows beside the hour's (which stand for time and energy): accuracy, measured or
    published."""
    return [f for f in figures if f.label.startswith(CLASS_FIGURES)]


def load_warning(shown: Sequence[Shown]) -> str:
    """The busy-machine warning once for a whole Run: the busiest of its runs ('' when none was busy)."""
    ran = [r for s in shown for r in s.runs if r.n_clips]
    if not ran:
        return ""
    busiest = max(ran, key=_others_load)
    return present.load_warning(busiest.cpu_others_before_pct, busiest.cpu_others_during_pct, len(ran))


def _others_load(r: Result) -> float:
    """present.others_load of a run, -1 where not known: the busiest run is the one the warning names."""
    load = present.others_load(r.cpu_others_before_pct, r.cpu_others_during_pct)
    return -1.0 if present.is_missing(load) else load


def verdict(shown: Sequence[Shown]) -> str:
    """For two configurations run several times each: which was faster per clip, by how much, and whether the
    difference is beyond this machine's noise (their latency ranges do not overlap) or within it ('' otherwise)."""
    if len(shown) != 2:
        return ""
    times = [[r.latency_per_utt_s for r in s.runs if r.status == STATUS_OK] for s in shown]
    if min(len(t) for t in times) < 2:
        return ""
    a, b = (spread(t) for t in times)
    names, rounds = short_names(shown), min(len(t) for t in times)
    if a.low <= b.high and b.low <= a.high:
        return (f"{names[0]} and {names[1]} took about the same time per clip: over {rounds} rounds their ranges "
                f"overlap, so the difference is within this machine's noise.")
    (fast, quick), (slow, slower) = sorted(zip(names, (a, b)), key=lambda pair: pair[1].median)
    return (f"{fast} was {slower.median / quick.median:.2g}× as fast as {slow} per clip (median over {rounds} "
            f"rounds; the ranges do not overlap, so the difference is beyond this machine's noise).")


def short_names(shown: Sequence[Shown]) -> list[str]:
    """The configurations named by what differs between them alone, a model by its size: ['tiny', 'small'],
    ['batch 1', 'batch 8'], ['tiny (pretrained)', 'small (synthetic)']."""
    parts = [s.label.split(" · ") for s in shown]
    several_models = len({s.result.model for s in shown}) > 1
    names = []
    for s, own in zip(shown, parts):
        differ = ", ".join(p for p in own[1:] if not all(p in other for other in parts))
        if several_models:
            names.append(size_of(s.result.model) + (f" ({differ})" if differ else ""))
        else:
            names.append(differ or s.label)
    return names


def published_wer(table: pd.DataFrame, r: Result) -> Figure | None:
    """The published WER of a synthetic-weights run's checkpoint on PUBLISHED_BENCHMARK, labelled published (None for
    trained weights, or a checkpoint without one): a figure others measured, never one measured here."""
    if r.weights != "synthetic" or table.empty:
        return None
    row = published.row_for(table, r.model, PUBLISHED_BENCHMARK)
    if row is None:
        return None
    return Figure("WER (published)", present.percent(float(row["wer"])),
                  f"Published, not measured here (these weights are random): {published.describe(row)}.")


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
        value = row.get(col) if col and fig.value != present.MISSING else None  # nothing here: nothing beside it
        out.append(fig if present.is_missing(value) else dataclasses.replace(fig, sweep=SWEEP_SAYS.format(
            _sweep_value(col, value, row.get("energy_source", "")))))
    return out


def _sweep_value(col: str, value: float, energy_source: str) -> str:
    if col == "wer":
        return present.percent(value)
    if col.startswith("energy"):
        return present.energy(value, energy_source)
    return present.number(value, "s" if col.endswith("_s") else "")


def sweep_caption(row: dict | None, r: Result | None = None) -> str:
    """What the sweep figures beneath the live ones are; without any, why not where r's clip falls between the
    sweep's length buckets ('' otherwise)."""
    if row is None:
        if r is None or r.status != STATUS_OK or r.bucket or not r.n_clips:
            return ""
        ranges = ", ".join(f"{lo:g}–{hi:g} s" for lo, hi in BUCKETS.values())
        return (f"No precomputed sweep figure beneath these: the sweep measured clips of {ranges}, and this "
                f"{r.audio_s / r.n_clips:.1f} s clip falls between those lengths.")
    runs = int(row.get("n_runs", 0))
    return (f"Beneath a figure: the precomputed sweep's median over {runs} run(s) of the same model, runtime, "
            f"precision, device, batch size and weights, on other clips of this length ({row['bucket']}).")
