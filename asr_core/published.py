"""Published accuracy: WER figures others measured, one row per checkpoint × dataset × source.

The table (``precomputed/published.csv``) is read and checked here; nothing in it is ever averaged with
a figure measured here. A published figure belongs to one checkpoint (tiny.en's WER is not tiny's), so
rows name the exact hub id, and a local folder is matched through ``models.checkpoint_of``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import pandas as pd

from . import cited
from .models import REGISTRY, checkpoint_of

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "precomputed" / "published.csv"
COLUMNS = ("model", "checkpoint", "dataset", "split", "wer_pct", "rtfx", "normaliser", "decoding", "source", "note")
REQUIRED_TEXT = ("model", "dataset", "split", "source")
# Checkpoints with published figures that the registry does not offer to run (too large for this tool's
# machines); a row may name them as well as any registry id.
PUBLISHED_ONLY = ("openai/whisper-large-v3", "openai/whisper-large-v2")
LEADERBOARD = "Hugging Face Open ASR Leaderboard"
PAPER = "Radford et al. 2022"
MODEL_CARD = "model card"
# Where one checkpoint has a figure for one benchmark from several sources, the first source here wins:
# the leaderboard (one normaliser and pipeline for every model), the Whisper paper, a model's own card.
# Sources not listed come last. Matched as a part of the source text.
SOURCE_PREFERENCE = (LEADERBOARD, PAPER, MODEL_CARD)
FIX = "fix that row of the published table"


class PublishedTableError(ValueError):
    """A published table that cannot be used; the message has one sentence per problem."""


def known_checkpoints() -> tuple[str, ...]:
    return (*REGISTRY, *PUBLISHED_ONLY)


def load(path: str | os.PathLike = DEFAULT_PATH) -> pd.DataFrame:
    """The published table, checked (validate), with 'benchmark' and 'wer' (a fraction) added."""
    return validate(cited.read(path, PublishedTableError, "published table"), Path(path).name)


def validate(raw: pd.DataFrame, name: str = "published table") -> pd.DataFrame:
    """The table with numbers parsed; PublishedTableError with one sentence per problem."""
    text = cited.text(raw, COLUMNS, PublishedTableError, name)
    table = text.assign(wer_pct=pd.to_numeric(text["wer_pct"], errors="coerce"),
                        rtfx=pd.to_numeric(text["rtfx"].replace("", None), errors="coerce"))
    found = [sentence for i in range(len(table)) for sentence in _row_problems(table.iloc[i], text.iloc[i], i + 2, name)]
    if found:
        raise PublishedTableError(" ".join(found))
    return table.assign(benchmark=table["dataset"] + " " + table["split"], wer=table["wer_pct"] / 100)


def _row_problems(row: pd.Series, text: pd.Series, line: int, name: str) -> list[str]:
    """One sentence per problem of one row (line: its line in the file, the header being line 1)."""
    where = f"{name} line {line}"
    found = [f"{where} has no {col}: {FIX}." for col in REQUIRED_TEXT if not row[col]]
    if row["model"] and row["model"] not in known_checkpoints():
        found.append(f"{where} names {row['model']!r}, which is not a known checkpoint: use a registry id or one of "
                     f"{', '.join(PUBLISHED_ONLY)}.")
    if not 0 <= row["wer_pct"] <= 100:  # NaN fails too
        found.append(f"{where} has WER {text['wer_pct'] or 'empty'}, not a percentage from 0 to 100: {FIX}.")
    if text["rtfx"] and not row["rtfx"] > 0:
        found.append(f"{where} has RTFx {text['rtfx']}, not a positive number or empty: {FIX}.")
    return found


def benchmarks(table: pd.DataFrame) -> list[str]:
    """The benchmarks ('LibriSpeech test-clean'), those covering the most checkpoints first."""
    counts = table.groupby("benchmark")["model"].nunique()
    return sorted(counts.index, key=lambda b: (-counts[b], b))


def _preference(source: str) -> int:
    return next((i for i, s in enumerate(SOURCE_PREFERENCE) if s.lower() in source.lower()), len(SOURCE_PREFERENCE))


def preferred(table: pd.DataFrame) -> pd.DataFrame:
    """One row per checkpoint and benchmark: the one from the most preferred source (SOURCE_PREFERENCE)."""
    ranked = table.assign(_rank=table["source"].map(_preference))
    best = ranked.sort_values(["_rank"], kind="stable").drop_duplicates(["model", "benchmark"])
    return best.drop(columns="_rank").sort_index()


def source_name(source: str) -> str:
    """A source as a choice names it: the SOURCE_PREFERENCE entry its text names ('Radford et al. 2022'), else
    the whole text."""
    return next((s for s in SOURCE_PREFERENCE if s.lower() in source.lower()), source)


def sources(table: pd.DataFrame, benchmark: str, models: Iterable[str] | None = None) -> list[str]:
    """The sources (source_name) with figures on a benchmark: those covering the most checkpoints of these model
    ids (all the table's checkpoints if None) first, then by SOURCE_PREFERENCE."""
    rows = table[table["benchmark"] == benchmark]
    wanted = None if models is None else {checkpoint_of(str(m)) for m in models}
    names = rows["source"].map(source_name)
    covered = {name: len(set(rows.loc[names == name, "model"]) & (wanted or set(rows["model"])))
               for name in names.unique()}
    return sorted(covered, key=lambda name: (-covered[name], _preference(name), name))


def row_for(table: pd.DataFrame, model: str, benchmark: str, source: str | None = None) -> pd.Series | None:
    """The published row for the checkpoint a model id names (a local folder too): from one source (a
    source_name) when given, else the preferred one; None when there is none."""
    rows = table[table["source"].map(source_name) == source] if source else preferred(table)
    hit = rows[(rows["model"] == checkpoint_of(model)) & (rows["benchmark"] == benchmark)]
    return hit.iloc[0] if len(hit) else None


def wer_for(table: pd.DataFrame, model: str, benchmark: str) -> float | None:
    """The preferred published WER (a fraction) of a model's checkpoint on a benchmark, or None."""
    row = row_for(table, model, benchmark)
    return None if row is None else float(row["wer"])


def rows_for_models(table: pd.DataFrame, models: list[str] | pd.Series) -> pd.DataFrame:
    """Every published row (all sources) of the checkpoints these model ids name, with the id they came from."""
    ids = pd.DataFrame({"measured_model": sorted({str(m) for m in models})})
    ids["model"] = ids["measured_model"].map(checkpoint_of)
    return table.merge(ids, on="model", how="inner")


def describe(row: pd.Series) -> str:
    """How a pick's text names a published figure: benchmark, checkpoint and source."""
    return f"published {row['benchmark']} WER of {row['model']} ({row['source']})"
