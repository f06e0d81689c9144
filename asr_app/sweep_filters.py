"""Explore's filters as a class first sees them: defaults that draw, the audio (noise) filter, a note where a
device has no measurements, and at most a few series per chart unless "show all" is asked.

The filter widgets and their values are ``sweep_views``'s (``FILTERS``, ``filter_options``, ``apply_filters``); this
module chooses what they start from and how many configurations a chart draws at once, so a chart stays
readable on a projector (1280×720) whatever the sweep holds.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd

from asr_core.models import REGISTRY, checkpoint_of
from . import sweep_views
from .inputs import model_label

AUDIO = "audio"  # the derived column the audio filter reads: "clean", or the noise and its SNR
AUDIO_LABEL = "Audio (noise mixed in)"
CLEAN = "clean"
# The six models every page talks about; a model measured with real weights (it has a WER) is shown beside them.
HEADLINE_MODELS = ("openai/whisper-tiny", "openai/whisper-base", "openai/whisper-small", "openai/whisper-medium",
                   "openai/whisper-large-v3-turbo", "facebook/wav2vec2-base-960h")
GPU_DEVICES = ("cuda", "mps")
NO_GPU_NOTE = ("No GPU measurements yet: every row of this sweep ran on a CPU. GPU figures are in the "
               "“CPU vs GPU” tab, projected by the cost model or published by others, never mixed with these.")
MAX_SERIES = 8  # configurations a chart draws unless "show all": a legend that fits beside a readable plot
# The configuration a model is first shown with: what most readers run; others follow, model by model.
REFERENCE = {"runtime": "transformers", "precision": "fp32", "weights": "pretrained"}


def audio_label(snr_db: float, noise: str) -> str:
    """'clean', or the noise and its SNR ('white noise, SNR 10 dB')."""
    if pd.isna(snr_db) or snr_db == math.inf:
        return CLEAN
    return f"{noise or 'noise'} noise, SNR {float(snr_db):g} dB"


def with_audio(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with the audio column the audio filter reads."""
    if "snr_db" not in df.columns:
        return df.assign(**{AUDIO: CLEAN})
    noise = df["noise"] if "noise" in df.columns else pd.Series("", index=df.index)
    return df.assign(**{AUDIO: [audio_label(s, n) for s, n in zip(df["snr_db"], noise.fillna(""))]})


def audio_options(df: pd.DataFrame) -> list[str]:
    """Clean first, then noise kinds from the quietest noise (highest SNR) to the loudest."""
    labels = df[[AUDIO, "snr_db"]].drop_duplicates(AUDIO) if "snr_db" in df.columns else df[[AUDIO]]
    key = labels["snr_db"].fillna(math.inf) if "snr_db" in labels.columns else pd.Series(math.inf, labels.index)
    return labels.assign(_k=-key).sort_values(["_k", AUDIO])[AUDIO].tolist()


def labels() -> dict[str, str]:
    """Filter column -> its widget's label, in the order the sidebar shows them (the audio filter after weights)."""
    out = {}
    for col, label in sweep_views.FILTERS.items():
        out[col] = label
        if col == "weights":
            out[AUDIO] = AUDIO_LABEL
    return out


def options(df: pd.DataFrame) -> dict[str, list]:
    """sweep_views.filter_options of rows that have the audio column (with_audio), plus the audio filter's values."""
    found = sweep_views.filter_options(df)
    return {col: found[col] if col in found else audio_options(df) for col in labels() if col in found or col == AUDIO}


def defaults(options: Mapping[str, Sequence], pretrained: Sequence[str] = ()) -> dict[str, list]:
    """Filter column -> the values it starts from: clean audio only (noisy rows when asked), the headline models
    and any model measured with real weights (pretrained: their WER means something), every value of the others."""
    out = {col: list(values) for col, values in options.items()}
    if AUDIO in out and CLEAN in out[AUDIO]:
        out[AUDIO] = [CLEAN]
    if "model" in out:
        real = set(pretrained)
        chosen = [m for m in out["model"] if checkpoint_of(str(m)) in HEADLINE_MODELS or m in real]
        out["model"] = chosen or out["model"]
    return out


def pretrained_models(df: pd.DataFrame) -> list[str]:
    """Models with at least one row on real weights (their WER means something)."""
    return sorted(df.loc[df["weights"] == "pretrained", "model"].astype(str).unique()) if "weights" in df else []


def device_note(devices: Sequence[str]) -> str:
    """The sentence shown under a device choice when the data has no GPU rows ('' when it has some)."""
    return "" if any(str(d).split(":")[0] in GPU_DEVICES for d in devices) else NO_GPU_NOTE


# --- at most MAX_SERIES series per chart -------------------------------------------------------------------

def series_order(frame: pd.DataFrame) -> list[str]:
    """The series of a chart frame, each model's reference configuration first (REFERENCE), models from the
    smallest, then each model's next configuration, and so on: the first few name every model once."""
    if frame.empty or "series" not in frame.columns:
        return []
    first = frame.drop_duplicates("series")
    off = sum((first[k].astype(str) != v).astype(int) for k, v in REFERENCE.items() if k in first.columns)
    first = first.assign(_off=off, _size=first["model"].map(_size), _name=first["series"])
    first = first.sort_values(["_off", "_name"], kind="stable")
    first["_rank"] = first.groupby("model", sort=False).cumcount()
    return first.sort_values(["_rank", "_size", "_name"], kind="stable")["series"].tolist()


def _size(model: object) -> float:
    spec = REGISTRY.get(checkpoint_of(str(model)))
    return spec.params_m if spec else math.inf


def top_series(frame: pd.DataFrame, show_all: bool, n: int = MAX_SERIES) -> tuple[pd.DataFrame, str]:
    """The frame's rows of its first n series (series_order), and a sentence saying what was left out ('' if
    nothing was)."""
    order = series_order(frame)
    if show_all or len(order) <= n:
        return frame, ""
    kept = frame[frame["series"].isin(order[:n])]
    return kept, (f"Showing {n} of {len(order)} configurations: each model's {REFERENCE['runtime']} "
                  f"{REFERENCE['precision']} run first. Tick “Show all configurations”, or narrow the filters.")


def models_caption(chosen: Sequence[str], pretrained: Sequence[str]) -> str:
    """Which models the charts start from: the headline six, and those measured with real weights."""
    real = [model_label(m) for m in chosen if m in set(pretrained) and checkpoint_of(str(m)) not in HEADLINE_MODELS]
    extra = f" + {', '.join(real)} (real weights)" if real else ""
    return f"Starting from the six headline models{extra}, clean audio only: the sidebar changes both."
