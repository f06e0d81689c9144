"""Which WER a ranking uses: one source for every candidate, its uncertainty, and when two WERs tie.

A ranking reads WER from one ``Accuracy``: one published source on one benchmark (``asr_core.published``), or
measured here. A figure of the other kind is shown beside it, never ranked with it. Measured WER carries a
Wilson score interval on word errors out of the reference words; a checkpoint's published figure is one
number for every runtime and precision it runs with. WERs whose intervals overlap tie (``accuracy_tiers``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from . import published
from .scoring import normalize
from .sweep_table import CELL_KEYS

MEASURED, PUBLISHED = "measured", "published"  # the kinds of WER a candidate can have (column wer_kind)
MEASURED_TEXT = "measured here"
DEFAULT_BENCHMARK = "LibriSpeech test-clean"  # the benchmark published for the most of our models
# Measured WERs tie when their 95 % Wilson score intervals (word errors out of reference words) overlap.
WER_INTERVAL_Z = 1.96


@dataclass(frozen=True)
class Accuracy:
    """The one source every candidate's WER is ranked on: one published source on one benchmark, or measured here."""

    benchmark: str | None = None  # e.g. "LibriSpeech test-clean"; None: measured here
    source: str = ""  # the published source, as published.source_name names it (e.g. "Radford et al. 2022")

    @property
    def label(self) -> str:
        return MEASURED_TEXT if self.benchmark is None else f"published {self.benchmark} ({self.source})"


MEASURED_ONLY = Accuracy()


def default_accuracy(table: pd.DataFrame | None, models: Iterable[str] | None = None) -> Accuracy:
    """Published DEFAULT_BENCHMARK WER from the one source that has figures for the most of these models
    (published.sources); measured here when there is no published figure on that benchmark."""
    if table is None or not len(table) or DEFAULT_BENCHMARK not in set(table["benchmark"]):
        return MEASURED_ONLY
    return Accuracy(DEFAULT_BENCHMARK, published.sources(table, DEFAULT_BENCHMARK, models)[0])


def accuracy_sources(table: pd.DataFrame, models: Iterable[str] | None = None) -> dict[str, Accuracy]:
    """Label -> Accuracy: the default (default_accuracy) first, measured here, then each benchmark × source."""
    models = None if models is None else list(models)
    names = published.benchmarks(table) if len(table) else []
    options = [Accuracy(b, source) for b in names for source in published.sources(table, b, models)]
    return {a.label: a for a in [default_accuracy(table, models), MEASURED_ONLY, *options]}


def reference_words(df: pd.DataFrame, summary: pd.DataFrame) -> pd.Series:
    """Words in each configuration's normalised references (what its WER divides by); NaN where none were kept."""
    if "references" not in df.columns:
        return pd.Series(np.nan, index=summary.index)
    words = df.assign(words=df["references"].map(_words)).groupby(CELL_KEYS, dropna=False)["words"].max()
    return summary.join(words.where(words > 0).rename("reference_words"), on=CELL_KEYS)["reference_words"]


def _words(references: Any) -> int:
    if references is None or isinstance(references, float):  # a row written without its references
        return 0
    return sum(_word_count(str(r)) for r in references)


@functools.lru_cache(maxsize=4096)
def _word_count(reference: str) -> int:
    return len(normalize(reference).split())


def with_accuracy(summary: pd.DataFrame, accuracy: Accuracy, table: pd.DataFrame | None) -> pd.DataFrame:
    """The summary with the WER to rank by (wer: from the one source accuracy names, NaN where a row has none),
    its kind and source, the interval within which another WER ties with it (wer_low, wer_high), and beside it
    measured_wer and published_wer: shown side by side, never mixed in the ranking."""
    out = summary.assign(measured_wer=summary["wer"].astype(float))
    models = out["model"].astype(str)
    found = {m: None if accuracy.benchmark is None or table is None else
             published.row_for(table, m, accuracy.benchmark, accuracy.source) for m in set(models)}
    rows = [found[m] for m in models]
    out["published_wer"] = [np.nan if r is None else float(r["wer"]) for r in rows]
    kind = MEASURED if accuracy.benchmark is None else PUBLISHED
    out["wer"] = out["measured_wer"] if kind == MEASURED else out["published_wer"]
    out["wer_kind"] = np.where(out["wer"].notna(), kind, "")
    out["wer_source"] = [_wer_source(k, row, bucket) for k, row, bucket in zip(out["wer_kind"], rows, out["bucket"])]
    # a checkpoint's published figure is one number for all its runtimes and precisions: no interval needed to tie them
    words = out["reference_words"] if kind == MEASURED else pd.Series(np.nan, index=out.index)
    out["wer_low"], out["wer_high"] = wer_interval(out["wer"], words)
    return out


def wer_interval(wer: pd.Series, words: pd.Series, z: float = WER_INTERVAL_Z) -> tuple[pd.Series, pd.Series]:
    """A Wilson score interval (95 % at the default z) for each WER, as word errors out of its reference words,
    each word one trial (the rate capped at 1 for the interval, since insertions can take WER past it).

    Errors cluster within a clip, so the true uncertainty is if anything wider. Where the number of words is not
    known, both bounds are the WER itself.
    """
    n = pd.to_numeric(words, errors="coerce").astype(float)
    p = wer.astype(float).clip(upper=1.0)
    shrink = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / shrink
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / shrink
    known = (n > 0) & wer.notna()
    low = np.minimum(centre - half, wer).where(known, wer)
    high = np.maximum(centre + half, wer).where(known, wer)
    return low, high


def accuracy_tiers(candidates: pd.DataFrame) -> pd.Series:
    """0 for the candidates whose WER ties with the lowest (wer_low at most its wer_high), 1 for those tied with
    the lowest of the rest, and so on; NaN without a WER. A tier ranks as one WER, so cost decides within it."""
    tiers = pd.Series(np.nan, index=candidates.index)
    left = candidates[candidates["wer"].notna()].sort_values("wer", kind="stable")
    tier = 0
    while len(left):
        tied = left["wer_low"] <= left.iloc[0]["wer_high"]
        tiers[left.index[tied]] = tier
        left, tier = left[~tied], tier + 1
    return tiers


def _wer_source(kind: str, row: pd.Series | None, bucket: str) -> str:
    if kind == MEASURED:
        return f"{MEASURED_TEXT} (this sweep's {bucket} clips)"
    return published.describe(row) if kind == PUBLISHED else "none"
