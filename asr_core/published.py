"""Published figures: WER others measured (one row per checkpoint × dataset × source) and cost figures others
measured on other hardware (time, power, energy; one row per figure).

The tables (``precomputed/published.csv``, ``precomputed/published_costs.csv``) are read and checked here;
nothing in them is ever averaged with a figure measured here. A published figure belongs to one checkpoint
(tiny.en's WER is not tiny's), so rows name the exact hub id, and a local folder is matched through
``models.checkpoint_of``.
"""
from __future__ import annotations

import os
import re
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

# Published cost figures: time, power and energy others measured on hardware we may not have (GPUs, boards,
# other CPUs), one row per figure in precomputed/published_costs.csv. A cost model fits on the rows marked
# 'fit' and is checked against those marked 'validate'; every row stays labelled published, never measured.
COSTS_PATH = DEFAULT_PATH.with_name("published_costs.csv")
COST_COLUMNS = ("model", "engine", "precision", "batch_size", "decoding", "hardware", "hardware_id", "dataset",
                "clip_s", "metric", "value", "per", "source_title", "source_date", "source_where", "source_url",
                "use", "note")
# rtfx: seconds of audio per second of processing; energy_j says in 'per' what the joules are for.
COST_METRICS = ("rtfx", "latency_s", "power_w", "energy_per_audio_s_j", "energy_j", "speedup")
METRICS_NEEDING_PER = ("latency_s", "energy_j")  # a duration or an amount of energy is of something
COST_USES = ("fit", "validate")
COST_REQUIRED_TEXT = ("model", "engine", "precision", "hardware", "hardware_id", "metric", "source_title",
                      "source_date", "source_where", "source_url", "use")
PUBLISHED_KIND = "published"  # the 'kind' column of every row load_costs returns
SOURCE_DATE = r"\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?"
HARDWARE_KEY = r"[A-Za-z0-9][A-Za-z0-9.\-]*"
URL = r"https?://\S+"
COST_FIX = "fix that row of the published cost table"


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
    found = _source_problems(row, where, REQUIRED_TEXT, FIX)
    if not 0 <= row["wer_pct"] <= 100:  # NaN fails too
        found.append(f"{where} has WER {text['wer_pct'] or 'empty'}, not a percentage from 0 to 100: {FIX}.")
    if text["rtfx"] and not row["rtfx"] > 0:
        found.append(f"{where} has RTFx {text['rtfx']}, not a positive number or empty: {FIX}.")
    return found


def _source_problems(row: pd.Series, where: str, required: tuple[str, ...], fix: str) -> list[str]:
    """The sentences every published row shares: an empty required cell, a checkpoint we do not know."""
    found = [f"{where} has no {col}: {fix}." for col in required if not row[col]]
    if row["model"] and row["model"] not in known_checkpoints():
        found.append(f"{where} names {row['model']!r}, which is not a known checkpoint: use a registry id or one of "
                     f"{', '.join(PUBLISHED_ONLY)}.")
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


def load_costs(path: str | os.PathLike = COSTS_PATH) -> pd.DataFrame:
    """The published cost table, checked, with numbers parsed and a 'kind' column saying 'published'."""
    path = Path(path)
    return validate_costs(cited.read(path, PublishedTableError, "published cost table"), path.name)


def validate_costs(raw: pd.DataFrame, name: str = "published cost table") -> pd.DataFrame:
    """The cost table with numbers parsed; PublishedTableError with one sentence per problem."""
    text = cited.text(raw, COST_COLUMNS, PublishedTableError, name)
    table = text.assign(value=_number(text["value"]), clip_s=_number(text["clip_s"]),
                        batch_size=_number(text["batch_size"]))
    found = [s for i in range(len(table)) for s in _cost_row_problems(table.iloc[i], text.iloc[i], i + 2, name)]
    found += _split_problems(table, name)
    if found:
        raise PublishedTableError(" ".join(found))
    return table.assign(batch_size=table["batch_size"].astype("Int64"), kind=PUBLISHED_KIND)


def _number(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column.replace("", None), errors="coerce")


def _cost_row_problems(row: pd.Series, text: pd.Series, line: int, name: str) -> list[str]:
    """One sentence per problem of one cost row (line: its line in the file, the header being line 1)."""
    where = f"{name} line {line}"
    found = _source_problems(row, where, COST_REQUIRED_TEXT, COST_FIX)
    if row["metric"] and row["metric"] not in COST_METRICS:
        found.append(f"{where} has metric {row['metric']!r}, which is not one of {', '.join(COST_METRICS)}: "
                     f"{COST_FIX}.")
    if not row["value"] > 0:  # NaN fails too
        found.append(f"{where} has value {text['value'] or 'empty'}, not a positive number: {COST_FIX}.")
    if row["metric"] in METRICS_NEEDING_PER and not row["per"]:
        found.append(f"{where} gives {row['metric']} without saying per what (column per): {COST_FIX}.")
    found += _optional_number_problems(row, text, where)
    found += _text_form_problems(row, where)
    return found


def _optional_number_problems(row: pd.Series, text: pd.Series, where: str) -> list[str]:
    found = []
    if text["batch_size"] and not (row["batch_size"] >= 1 and float(row["batch_size"]).is_integer()):
        found.append(f"{where} has batch size {text['batch_size']}, not a whole number from 1 up or empty: "
                     f"{COST_FIX}.")
    if text["clip_s"] and not row["clip_s"] > 0:
        found.append(f"{where} has clip length {text['clip_s']}, not a positive number of seconds or empty: "
                     f"{COST_FIX}.")
    return found


def _text_form_problems(row: pd.Series, where: str) -> list[str]:
    checks = (("use", row["use"] in COST_USES, f"not one of {', '.join(COST_USES)}"),
              ("source_date", re.fullmatch(SOURCE_DATE, row["source_date"]), "not a date as YYYY-MM or YYYY-MM-DD"),
              ("hardware_id", re.fullmatch(HARDWARE_KEY, row["hardware_id"]),
               "not a short key (letters, digits, dots and hyphens, such as A100-80GB)"),
              ("source_url", re.fullmatch(URL, row["source_url"]), "not a web address (http:// or https://)"))
    return [f"{where} has {col} {row[col]!r}, {why}: {COST_FIX}." for col, ok, why in checks if row[col] and not ok]


def _split_problems(table: pd.DataFrame, name: str) -> list[str]:
    """A model on one device is either fitted on or validated against, never both (validation on unseen pairs)."""
    uses = table[table["use"].isin(COST_USES)].groupby(["model", "hardware_id"])["use"].nunique()
    return [f"{name} marks {model} on {hardware} both fit and validate: give all rows of one model on one device "
            f"the same use." for (model, hardware), n in uses.items() if n > 1]


def costs_for(model: str, hardware_id: str | None = None, metric: str | None = None,
              table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The published cost rows of the checkpoint a model id names (a local folder too), optionally of one device
    (hardware_id) and one metric; the shipped table unless one is given. Empty when nothing is published."""
    table = load_costs() if table is None else table
    keep = table["model"] == checkpoint_of(model)
    if hardware_id is not None:
        keep &= table["hardware_id"] == hardware_id
    if metric is not None:
        keep &= table["metric"] == metric
    return table[keep]
