"""Which configuration fits a use case, computed from the results, with the reason and the caveats.

Nothing here names a model: a use case is a set of constraints and an objective, and the pick is
whichever measured configuration meets the constraints best. Cost is always measured; accuracy comes from
one source for every candidate (``Accuracy``): by default one published source on LibriSpeech test-clean
(``asr_core.published``), or measured here when asked. A candidate without a figure from that source is
listed apart (``Recommendation.unranked``), never ranked on a figure of another kind; the other kind is
shown beside. WERs within their uncertainty tie, and cost breaks the tie. When the data cannot answer (no
WER, no rows for a device, estimated energy) the caveats say so. The answer opens with one plain sentence
(``Recommendation.headline``); the jargon is in the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import hourly, published
from .accuracy import (MEASURED_ONLY, MEASURED_TEXT, PUBLISHED, Accuracy, accuracy_sources,  # noqa: F401 - the API
                       accuracy_tiers, default_accuracy, reference_words, with_accuracy)
from .energy_sources import ESTIMATE, MEASURED_SOURCES, PROJECTED, UNAVAILABLE, source_parts
from .models import BYTES_PER_PARAM, REGISTRY, checkpoint_of, family_of
from .results import STATUS_OK
from .sweep_table import CELL_KEYS, aggregate

MIB = 1024**2
GIB = 1024**3
SYNTHETIC = "synthetic"
# Bucket names as the clips module writes them in Result.bucket.
BUCKET_5S, BUCKET_15S, BUCKET_30S, BUCKET_60S = "5s", "15s", "30s", "60s"
# About a 5 W board transcribing in real time.
EDGE_MAX_ENERGY_PER_AUDIO_S_J = 5.0

SUMMARY_COLUMNS = [*CELL_KEYS, "n_runs", "latency_per_utt_s", "rtf", "energy_per_audio_s_j", "energy_per_utt_j",
                   "peak_memory_bytes", "model_bytes", "wer", "cer", "reference_words", "energy_source", "cpu_name",
                   "gpu_name"]
# What a memory limit caps: the run's peak (GPU reserved / process RSS) or the model's own weights.
PEAK, MODEL = "peak", "model"
MEMORY_COLUMNS = {PEAK: "peak_memory_bytes", MODEL: "model_bytes"}
REAL_TIME_BAND = 1.1  # within 10 % of real time either way reads "about as fast as real time"
DEVICE_WORDS = {"cpu": "a CPU", "cuda": "a GPU", "mps": "an Apple GPU"}
OBJECTIVE_COLUMNS = {"wer": "wer", "latency": "latency_per_utt_s", "energy": "energy_per_audio_s_j"}
# UseCase field -> the summary column it caps
CONSTRAINT_COLUMNS = {
    "max_latency_per_utt_s": "latency_per_utt_s",
    "max_rtf": "rtf",
    "max_peak_memory_bytes": "peak_memory_bytes",
    "max_energy_per_audio_s_j": "energy_per_audio_s_j",
}
# column -> (how a sentence names it, how it shows a value with its unit)
METRICS = {
    "wer": ("WER", lambda v: f"{100 * v:.1f} %"),
    "latency_per_utt_s": ("latency per utterance", lambda v: f"{v:.3g} s"),
    "rtf": ("RTF", lambda v: f"{v:.3g}"),
    "energy_per_audio_s_j": ("energy per audio second", lambda v: f"{v:.3g} J"),
    "peak_memory_bytes": ("peak memory", lambda v: f"{v / GIB:.3g} GiB" if v >= GIB else f"{v / MIB:.0f} MiB"),
    "model_bytes": ("model memory (weights)", lambda v: f"{v / GIB:.3g} GiB" if v >= GIB else f"{v / MIB:.0f} MiB"),
}
COVERAGE = {"device": "devices", "bucket": "clip buckets", "batch_size": "batch sizes"}
# Cost figures are measured (the sweep) or projected (asr_core.costmodel, labelled in energy_source): a ranking
# compares one kind unless the caller asks for both (mix_kinds).
MIXED_KINDS = ("The candidates mix costs measured here with costs projected by the cost model, ranked together "
               "as asked: a projection's error (see the CPU vs GPU view) can decide the order.")


@dataclass(frozen=True)
class UseCase:
    """Constraints (None: no limit; empty tuple: any) and what to minimise among what meets them."""

    name: str
    description: str = ""
    device: str | None = None
    buckets: tuple[str, ...] = ()
    max_latency_per_utt_s: float | None = None
    max_rtf: float | None = None
    max_peak_memory_bytes: float | None = None
    max_energy_per_audio_s_j: float | None = None
    objective: str = "wer"  # "wer" | "latency" | "energy"
    batch_sizes: tuple[int, ...] = ()
    tie_break: str = "latency"  # "wer" | "latency" | "energy"
    memory: str = PEAK  # what max_peak_memory_bytes caps: PEAK (the run's) or MODEL (the weights alone)

    def __post_init__(self):
        for value in (self.objective, self.tie_break):
            if value not in OBJECTIVE_COLUMNS:
                raise ValueError(f"Unknown objective {value!r}: choose one of {', '.join(OBJECTIVE_COLUMNS)}.")
        if self.memory not in MEMORY_COLUMNS:
            raise ValueError(f"Unknown memory {self.memory!r}: choose one of {', '.join(MEMORY_COLUMNS)}.")

    def limits(self) -> dict[str, float]:
        """Summary column -> upper limit, for the constraints that are set."""
        columns = {**CONSTRAINT_COLUMNS, "max_peak_memory_bytes": MEMORY_COLUMNS[self.memory]}
        return {col: getattr(self, f) for f, col in columns.items() if getattr(self, f) is not None}


SHORT_COMMANDS = UseCase(
    "Short voice commands", "A few words at a time on the CPU, answered well within a second.",
    device="cpu", buckets=(BUCKET_5S,), batch_sizes=(1,), max_latency_per_utt_s=1.0,
    objective="latency", tie_break="wer")
LIVE_CAPTIONS = UseCase(
    "Live captions", "One live stream captioned as it is spoken, keeping well ahead of real time.",
    buckets=(BUCKET_5S, BUCKET_15S), batch_sizes=(1,), max_rtf=0.5, objective="wer", tie_break="latency")
OFFLINE_LECTURES = UseCase(
    "Offline lectures", "Recorded talks transcribed in bulk: the lowest WER, then the least energy.",
    buckets=(BUCKET_30S, BUCKET_60S), objective="wer", tie_break="energy")
EDGE_DEVICES = UseCase(
    "Edge devices", "A small board on a power budget: CPU only, a model of at most 1 GiB (its weights).",
    device="cpu", max_peak_memory_bytes=GIB, max_energy_per_audio_s_j=EDGE_MAX_ENERGY_PER_AUDIO_S_J,
    objective="energy", tie_break="wer", memory=MODEL)
USE_CASES = {u.name: u for u in (SHORT_COMMANDS, LIVE_CAPTIONS, OFFLINE_LECTURES, EDGE_DEVICES)}


@dataclass(frozen=True, eq=False)
class Recommendation:
    use_case: UseCase
    candidates: pd.DataFrame  # summary rows that meet the constraints, with a WER from the source, best first
    pareto: pd.DataFrame  # candidates on the WER-vs-cost front
    pick: pd.Series | None
    reason: str  # the details: how the pick was ranked, every figure with its jargon, where each came from
    caveats: list[str] = field(default_factory=list)
    unranked: pd.DataFrame = field(default_factory=pd.DataFrame)  # rows that meet the constraints, with no WER
    headline: str = ""  # one plain sentence: the pick, how fast, how much energy, how accurate
    accuracy: Accuracy = MEASURED_ONLY

    @property
    def unranked_note(self) -> str:
        """The rows listed apart and why; empty when every candidate was ranked."""
        if self.unranked.empty:
            return ""
        models = sorted(set(self.unranked["model"].astype(str)))
        n = len(self.unranked)
        return (f"Not ranked (no WER from the source, {self.accuracy.label}): {', '.join(models)} "
                f"({n} configuration{'s' if n != 1 else ''}).")


def pareto_front(df: pd.DataFrame, x: str, y: str) -> pd.Series:
    """True for rows no other row beats on both x and y (both minimised); NaN rows are never on it."""
    pts = df[[x, y]].to_numpy(dtype=float)
    valid = ~np.isnan(pts).any(axis=1)
    mine, other = pts[:, None, :], pts[None, :, :]
    dominated = ((other <= mine).all(-1) & (other < mine).any(-1) & valid[None, :]).any(axis=1)
    return pd.Series(valid & ~dominated, index=df.index, name="pareto", dtype=bool)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration, by sweep_table.aggregate (medians over repeats, max peak memory), with
    the model's own memory (model_bytes)."""
    out = aggregate(df)
    if out.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    out["energy_source"] = out["energy_source"].replace("", UNAVAILABLE)
    out["model_bytes"] = _model_bytes(df, out)
    out["reference_words"] = reference_words(df, out)
    return out[SUMMARY_COLUMNS]


def _model_bytes(df: pd.DataFrame, summary: pd.DataFrame) -> pd.Series:
    """The weights' bytes: the rows' model_bytes where recorded, else registry parameters x bytes per parameter."""
    estimate = summary.apply(lambda r: _registry_bytes(r["model"], r["precision"]), axis=1).astype(float)
    if "model_bytes" not in df.columns:
        return estimate
    recorded = df.assign(model_bytes=pd.to_numeric(df["model_bytes"], errors="coerce")).groupby(
        CELL_KEYS, dropna=False)["model_bytes"].max()
    recorded = summary.join(recorded.where(recorded > 0).rename("recorded"), on=CELL_KEYS)["recorded"]
    return recorded.fillna(estimate)


def _registry_bytes(model: str, precision: str) -> float:
    spec = REGISTRY.get(checkpoint_of(str(model)))
    per_param = BYTES_PER_PARAM.get(str(precision))
    return np.nan if spec is None or per_param is None else spec.params_m * 1e6 * per_param


def _describe(column: str, value: float) -> str:
    name, show = METRICS[column]
    return f"{name} {'unknown' if pd.isna(value) else show(value)}"


def _label(row: pd.Series) -> str:
    return (f"{row['model']} ({row['runtime']}, {row['weights']} weights, {row['device']} {row['precision']}, "
            f"batch {row['batch_size']}, {row['bucket']} clips)")


def _scope_text(use_case: UseCase, device: str | None) -> str:
    parts = [f"device {device}"] if device else []
    if use_case.buckets:
        parts.append(f"{'/'.join(use_case.buckets)} clips")
    if use_case.batch_sizes:
        parts.append(f"batch size {'/'.join(map(str, use_case.batch_sizes))}")
    return ", ".join(parts) or "any configuration"


def _in_scope(summary: pd.DataFrame, use_case: UseCase, device: str | None) -> pd.DataFrame:
    keep = pd.Series(True, index=summary.index)
    if device:
        keep &= summary["device"] == device
    if use_case.buckets:
        keep &= summary["bucket"].isin(use_case.buckets)
    if use_case.batch_sizes:
        keep &= summary["batch_size"].isin(use_case.batch_sizes)
    return summary[keep]


def _coverage(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "there are no successful runs at all"
    return "the results cover " + "; ".join(
        f"{name} {', '.join(map(str, sorted(summary[key].unique())))}" for key, name in COVERAGE.items())


def _excess(scoped: pd.DataFrame, limits: dict[str, float]) -> pd.DataFrame:
    """How far each row goes over each limit, relative to it: 0 within, inf when unknown."""
    over = {col: (scoped[col].astype(float) / lim - 1).clip(lower=0).fillna(np.inf) for col, lim in limits.items()}
    return pd.DataFrame(over, index=scoped.index)


def _misses(row: pd.Series, limits: dict[str, float]) -> str:
    missed = [f"{_describe(col, row[col])} (limit {METRICS[col][1](lim)})"
              for col, lim in limits.items() if not row[col] <= lim]
    return " and ".join(missed)


def _sort_keys(candidates: pd.DataFrame, use_case: UseCase) -> tuple[list[str], list[str]]:
    """Columns to rank by, best first: objective, tie-break, then the rest; skipping all-NaN ones."""
    order = dict.fromkeys([use_case.objective, use_case.tie_break, *OBJECTIVE_COLUMNS])
    usable = [OBJECTIVE_COLUMNS[o] for o in order if candidates[OBJECTIVE_COLUMNS[o]].notna().any()]
    caveats = []
    wanted = OBJECTIVE_COLUMNS[use_case.objective]
    if usable and usable[0] != wanted:
        caveats.append(f"No candidate has a {METRICS[wanted][0]} figure, so the pick is ranked by the lowest "
                       f"{METRICS[usable[0]][0]} instead.")
    return usable, caveats


def _source_caveats(pick: pd.Series, table: pd.DataFrame | None, accuracy: Accuracy) -> list[str]:
    if pick["wer_kind"] != PUBLISHED or table is None:
        return []
    note = published.row_for(table, pick["model"], accuracy.benchmark, accuracy.source)["note"]
    return [f"About the pick's published WER: {note}"] if note else []


def _hardware(row: pd.Series) -> str:
    name = row["gpu_name"] if str(row["device"]).startswith("cuda") else row["cpu_name"]  # projected: both the same
    return f"{name or 'unnamed hardware'} ({row['device']})"


def _wer_caveats(candidates: pd.DataFrame) -> list[str]:
    """Why accuracy played no part, when no candidate has a WER (else only those with one are ranked)."""
    if candidates["wer"].notna().any():
        return []
    if (candidates["weights"] == SYNTHETIC).all():
        return ["WER needs pretrained weights; these rows were timed with synthetic weights, so accuracy "
                "played no part in this pick."]
    return ["No candidate has a WER (no reference transcripts were scored), so accuracy played no part in "
            "this pick."]


def _energy_caveats(candidates: pd.DataFrame, pick: pd.Series, ranked_by_energy: bool) -> list[str]:
    if is_projected(pick):
        return [f"The pick's time and energy are {PROJECTED} by the cost model, not measured."]
    caveats = []
    sources = set(source_parts(pick["energy_source"]))
    if ESTIMATE in sources:
        caveats.append("The pick's energy is an estimate (modelled), not a measurement.")
    if not sources & set(MEASURED_SOURCES) and ESTIMATE not in sources:
        caveats.append("No energy was measured for the pick.")
    kinds = {ESTIMATE in source_parts(s) for s in candidates["energy_source"]}
    if ranked_by_energy and kinds == {True, False}:
        caveats.append("Candidates mix measured and estimated energy, so the energy ranking compares unlike figures.")
    return caveats


def _reason(pick: pd.Series, keys: list[str], candidates: pd.DataFrame, use_case: UseCase,
            scope: str) -> str:
    limits = use_case.limits()
    within = " and ".join(f"{METRICS[c][0]} ≤ {METRICS[c][1](v)}" for c, v in limits.items())
    n = len(candidates)
    pool = f"{n} configuration{'s' if n != 1 else ''} for {scope}" + (f" with {within}" if within else "")
    ranked = ", then ".join(f"lowest {METRICS[k][0]}" for k in keys[:2])
    figures = ", ".join(_describe(c, pick[c]) for c in METRICS)
    return (f"{_label(pick)}: best of {pool}, ranked by {ranked}. It has {figures}; "
            f"energy source: {pick['energy_source']}. Cost: {_cost_words(pick)} {_hardware(pick)}; "
            f"accuracy: {pick['wer_source']}.")


def _cost_words(row: pd.Series) -> str:
    return "projected by the cost model (a roofline on the device's cited peaks) for" if is_projected(row) else \
        "measured on"


def _tie_note(keys: list[str], candidates: pd.DataFrame, accuracy: Accuracy) -> str:
    """How WERs within their uncertainty were ranked: as ties, broken by the next key."""
    if "wer" not in keys:
        return ""
    after = keys[keys.index("wer") + 1:]
    broken = f", broken by the lowest {METRICS[after[0]][0]}" if after else ""
    if accuracy.benchmark is not None:
        return (" A checkpoint's published WER holds for every runtime and precision it runs with, so those count "
                f"as a tie on accuracy{broken}.")
    if candidates["reference_words"].isna().all():  # sweep_table.read leaves the transcripts out
        return (" These results do not carry their reference transcripts, so measured WERs are compared as they "
                "are, without their uncertainty.")
    return (" Measured WERs whose 95 % intervals overlap (Wilson score intervals on word errors out of the "
            f"reference words) count as a tie{broken}.")


def _rank(candidates: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Best first by keys, a WER ranking as its accuracy tier (ties within uncertainty), then by WER itself."""
    ranked = candidates.assign(wer_tier=accuracy_tiers(candidates))
    by = ["wer_tier" if k == "wer" else k for k in keys]
    return ranked.sort_values([*by, "wer", "model"], na_position="last", kind="stable")


def _split_by_accuracy(candidates: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ranked, unranked): rows without a WER from the one source are listed apart, unless none has one."""
    has_wer = candidates["wer"].notna()
    return (candidates[has_wer], candidates[~has_wer]) if has_wer.any() else (candidates, candidates.iloc[:0])


def _none(use_case: UseCase, empty: pd.DataFrame, message: str, caveats: list[str]) -> Recommendation:
    reason = f"Nothing to recommend. {message}"
    return Recommendation(use_case, empty, empty, None, reason, [*caveats, message], headline=reason)


# --- the one plain sentence -------------------------------------------------------------------------

def headline(pick: pd.Series, use_case: UseCase, accuracy: Accuracy,
             costs: hourly.CostSettings | None = None) -> str:
    """The sentence a class reads first, figures from the pick: 'Live captions on a CPU: whisper-base — 4×
    faster than real time, 20 Wh and €0.0057 per hour of audio (estimated), WER 5.0 % (published, LibriSpeech
    test-clean)' (the money with costs: hourly's electricity price). A projected pick says so where it names the
    device. No RTF, precision, runtime or bucket names: those are in the reason."""
    figures = [f for f in (pace(pick["rtf"]), _energy_words(pick, costs), _wer_words(pick, accuracy)) if f]
    if is_projected(pick):
        where = f"the {str(pick['gpu_name'] or pick['device']).split(' (')[0]} ({PROJECTED})"
    else:
        where = DEVICE_WORDS.get(str(pick["device"]).split(":")[0], str(pick["device"]))
    return f"{use_case.name} on {where}: {model_name(pick['model'])} — {', '.join(figures)}"


def cost_kind(energy_source: object) -> str:
    """A candidate's cost as it was got: projected (by the cost model, projected_cells) or measured."""
    return PROJECTED if PROJECTED in source_parts(energy_source) else hourly.MEASURED


def is_projected(row: pd.Series) -> bool:
    """Whether a candidate's cost comes from the cost model (projected_cells), not from a measurement."""
    return cost_kind(row["energy_source"]) == PROJECTED


def model_name(model: str) -> str:
    """A model as a sentence names it: its checkpoint without the organisation ('whisper-base')."""
    return checkpoint_of(str(model)).rstrip("/").split("/")[-1]


def pace(rtf: float) -> str:
    """Speed against real time in words: '4× faster than real time', 'about as fast as real time'; '' if unknown."""
    if not rtf > 0:
        return ""
    speed = 1 / rtf
    if 1 / REAL_TIME_BAND <= speed <= REAL_TIME_BAND:
        return "about as fast as real time"
    return f"{_figure(speed)}× faster than real time" if speed > 1 else f"{_figure(rtf)}× slower than real time"


def _figure(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.2g}"


def _energy_words(pick: pd.Series, costs: hourly.CostSettings | None = None) -> str:
    # joules per audio second are watt-hours per audio hour: both sides x 3600
    sources = set(source_parts(pick["energy_source"])) - {UNAVAILABLE}
    if pd.isna(pick["energy_per_audio_s_j"]) or not sources:
        return ""
    kind = "" if ESTIMATE not in sources else " (estimated)" if sources == {ESTIMATE} else " (partly estimated)"
    if PROJECTED in sources:
        kind = f" ({PROJECTED})"
    if costs is not None:
        figures = hourly.energy_and_money(hourly.from_row(pick.to_dict(), costs))
        return f"{figures} per hour of audio{kind}" if figures else ""
    return f"{_figure(pick['energy_per_audio_s_j'])} Wh per hour of audio{kind}"


def _wer_words(pick: pd.Series, accuracy: Accuracy) -> str:
    if pd.isna(pick["wer"]):
        return ""
    if pick["wer_kind"] == PUBLISHED:
        return f"WER {100 * pick['wer']:.1f} % (published, {accuracy.benchmark})"
    words = pick.get("reference_words")
    return f"WER {100 * pick['wer']:.1f} % ({MEASURED_TEXT}" + (f" on {words:.0f} words)" if words > 0 else ")")


def recommend(df: pd.DataFrame, use_case: UseCase, device: str | None = None, accuracy: Accuracy | None = None,
              table: pd.DataFrame | None = None, costs: hourly.CostSettings | None = None,
              mix_kinds: bool = False) -> Recommendation:
    """The configuration that best fits ``use_case`` on ``device`` (the use case's own device wins).

    accuracy: the one source every candidate's WER is ranked on; None: ``default_accuracy`` for the rows' models
    (published LibriSpeech test-clean when a table is given, else measured here). table: the published table
    (``published.load``), needed when accuracy names a benchmark. costs: where and at what price, for the
    sentence's money per hour of audio (None: watt-hours only). Rows may be measured (a sweep) or projected
    (``projected_cells``); both kinds are ranked together only with mix_kinds (ValueError otherwise).
    """
    kinds = _cost_kinds(df)
    if len(kinds) > 1 and not mix_kinds:
        raise ValueError("recommend() got measured and projected rows: rank one kind, or pass mix_kinds=True.")
    if accuracy is None:
        accuracy = default_accuracy(table, df["model"].astype(str).unique() if "model" in df.columns else None)
    caveats = []
    if use_case.device and device and device != use_case.device:
        caveats.append(f"{use_case.name} runs on {use_case.device}, so the chosen device {device} was set aside.")
    device = use_case.device or device
    summary = with_accuracy(summarise(df), accuracy, table)
    scope = _scope_text(use_case, device)
    scoped = _in_scope(summary, use_case, device)
    if scoped.empty:
        return _none(use_case, scoped, f"No results for {scope}: {_coverage(summary)}; "
                     "run a sweep that covers it.", caveats)
    limits = use_case.limits()
    excess = _excess(scoped, limits)
    candidates = scoped[(excess == 0).all(axis=1)]
    if candidates.empty:
        closest = scoped.loc[excess.sum(axis=1).idxmin()]
        return _none(use_case, candidates, f"No configuration for {scope} meets the constraints; the closest is "
                     f"{_label(closest)}, with {_misses(closest, limits)}.", caveats)
    candidates, unranked = _split_by_accuracy(candidates)
    keys, rank_caveats = _sort_keys(candidates, use_case)
    candidates = _rank(candidates, keys)
    pick = candidates.iloc[0]
    cost = next((k for k in keys if k != "wer"), "latency_per_utt_s")
    pareto = candidates[pareto_front(candidates, "wer", cost)]
    caveats += rank_caveats + _wer_caveats(candidates) + _source_caveats(pick, table, accuracy)
    caveats += _energy_caveats(candidates, pick, "energy_per_audio_s_j" in keys[:2])
    caveats += [MIXED_KINDS] if len(_cost_kinds(candidates)) > 1 else []
    reason = _reason(pick, keys, candidates, use_case, scope) + _tie_note(keys, candidates, accuracy)
    return Recommendation(use_case, candidates, pareto, pick, reason, caveats, unranked,
                          headline(pick, use_case, accuracy, costs), accuracy)


def _cost_kinds(df: pd.DataFrame) -> set[str]:
    if "energy_source" not in df.columns or df.empty:
        return set()
    return {cost_kind(s) for s in df["energy_source"].fillna("")}


# --- projected candidates -------------------------------------------------------------------------------

PROJECTED_COPIED = ("model", "runtime", "precision", "batch_size", "bucket", "audio_s", "n_clips", "latency_s",
                    "rtf", "preprocess_s", "encoder_s", "decoder_s", "energy_j", "energy_per_audio_s_j", "total_flops")


def projected_cells(grid: pd.DataFrame) -> pd.DataFrame:
    """The cost model's projections (``costmodel.project_grid``; refused ones left out) as rows recommend() ranks
    like sweep rows: the device is the hardware id, energy_source says 'projected' (so every sentence and caveat
    does), no WER of their own (a ranking takes a published one), no memory figure. Never written into a sweep."""
    ok = grid[grid.get("refused", pd.Series("", index=grid.index)).fillna("") == ""]
    if ok.empty:
        return pd.DataFrame(columns=[*CELL_KEYS, "status"])
    n = ok["n_clips"].astype(float)
    return ok[list(PROJECTED_COPIED)].assign(
        weights="pretrained", device=ok["hardware_id"], snr_db=np.inf, noise="", status=STATUS_OK,
        family=ok["model"].map(family_of), latency_per_utt_s=ok["latency_s"] / n,
        throughput_audio_s_per_s=ok["rtfx"], throughput_utt_per_s=n / ok["latency_s"],
        energy_per_utt_j=ok["energy_j"] / n, energy_source=PROJECTED, wer=np.nan, cer=np.nan,
        encoder_flops_per_clip=np.nan, peak_gpu_reserved_bytes=np.nan, peak_rss_bytes=np.nan,
        cpu_name=ok["hardware_name"], gpu_name=ok["hardware_name"], clip_source=PROJECTED).reset_index(drop=True)
