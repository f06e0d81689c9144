"""What a run shows on the page: its headline figures (per clip, with the batch totals beside them and
every energy figure with its source), the status line while it runs, and how it ended."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from asr_core.errors import ModelError
from asr_core.flops import CACHED, COUNTED, DEFERRED
from asr_core.measure import COMPILING, MEASURING, WARMING_UP, Progress
from asr_core.models import family_of
from asr_core.results import STATUS_CANCELLED, STATUS_OK, Result

from . import present

SHORT_CLIP_S = 1.0  # below it, Whisper's padding to 30 s dominates the cost
WER_HELP = ("word error rate: substituted, inserted and deleted words as a share of the reference's words, "
            "after normalising case, punctuation and numbers; lower is better")
CER_HELP = "character error rate: the same count over characters; kinder to near-misses such as a misspelt name"
LOAD_HELP = ("how busy other processes kept all the CPU cores, as a percent of all cores: during the untimed "
             "warm-up just before the run, and during the timed run. Busy cores slow a CPU run down.")
PHASE_TEXT = {COMPILING: "Compiling for this batch size (once, not timed)…", WARMING_UP: "Warming up…"}
SYNTHETIC_NOTE = "synthetic weights: timing only, no transcript/WER"
COUNTING = "counting…"  # the FLOPs figure while its shape is counted after the run
# Result.flops_source -> the caption beneath the FLOPs figure
FLOPS_NOTES = {COUNTED: "counted after the run; kept for this shape", CACHED: "from the FLOP cache: counted once before",
               DEFERRED: "not counted (class mode skips it; switch it off and run again)"}


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    help: str = ""
    sweep: str = ""  # what the precomputed sweep measured for the same configuration (compare.with_sweep)
    note: str = ""  # a word on where the figure came from, beneath it


def result_figures(r: Result, flops_pending: bool = False, published_wer: Figure | None = None) -> list[Figure]:
    """The headline numbers of one run, per clip (batch totals in the help), each energy figure with its source.

    flops_pending: its FLOPs are being counted after the run (the figure says so). published_wer: a synthetic
    run's published WER (compare.published_wer), shown instead of the WER it cannot have, labelled published."""
    no_wer = SYNTHETIC_NOTE if r.weights == "synthetic" else "no reference text given"
    tag = present.energy_tag(r.energy_source)
    batch = f"the whole batch of {r.n_clips} clip(s) ({r.n_batches} batch(es))"
    memory_b, memory_help = present.memory(r.device, r.model_bytes, r.rss_before_bytes, r.peak_rss_bytes,
                                           r.peak_gpu_allocated_bytes)
    return [
        published_wer or Figure("WER", present.percent(r.wer), WER_HELP if not math.isnan(r.wer) else no_wer),
        Figure("CER", present.percent(r.cer), CER_HELP if not math.isnan(r.cer) else no_wer),
        Figure("Latency per clip", present.number(r.latency_per_utt_s, "s"),
               f"{present.number(r.latency_s, 's')} for {batch}; the clip is repeated to fill the batch"),
        Figure("RTF", present.number(r.rtf), "processing seconds per audio second; below 1 is faster than real time"),
        Figure(f"Energy per clip ({tag})", present.number(r.energy_per_utt_j, "J"),
               f"{present.number(r.energy_j, 'J')} for {batch}. {present.explain_sources([r.energy_source])}"),
        Figure(f"Energy per audio second ({tag})", present.number(r.energy_per_audio_s_j, "J"),
               present.explain_sources([r.energy_source])),
        Figure("GPU memory (allocator peak)" if r.device == "cuda" else "Memory (weights + working)",
               present.bytes_(memory_b), memory_help),
        flops_figure(r, batch, flops_pending),
        Figure("Other programs' CPU load", present.cpu_load(r.cpu_others_before_pct, r.cpu_others_during_pct),
               LOAD_HELP),
    ] + ([Figure("Compile (one-off)", present.number(r.compile_s, "s"),
                 "compiling for this batch size before the first run; kept out of latency and energy")]
         if r.compile_s > 0 else [])


def flops_figure(r: Result, batch: str, pending: bool = False) -> Figure:
    """FLOPs per clip, with where they came from: counted, the cache, being counted, or why not."""
    if pending:
        return Figure("FLOPs per clip", COUNTING, "counted in the background after the run: the figure fills in "
                                                  "when ready (a shape counted once is kept)", note="fills in when ready")
    if math.isnan(r.total_flops):
        why = (FLOPS_NOTES[DEFERRED] if r.flops_source == DEFERRED
               else f"the {r.runtime} runtime runs no PyTorch operators to count")
        return Figure("FLOPs per clip", present.MISSING, f"not counted: {why}")
    return Figure("FLOPs per clip", present.flops(r.total_flops / r.n_clips if r.n_clips else math.nan),
                  f"{present.flops(r.total_flops)} for {batch}; encoder {present.flops(r.encoder_flops_per_clip)} per "
                  f"clip, decoder {present.flops(r.decoder_flops_per_token)} per token",
                  note=FLOPS_NOTES.get(r.flops_source, ""))


def batch_totals(r: Result) -> str:
    """'Whole batch of 4 clips: 2.4 s, 120 J (estimate).' — the totals beside the per-clip headline."""
    if r.n_clips <= 1:
        return ""
    energy = present.energy(r.energy_j, r.energy_source)
    return (f"Whole batch of {r.n_clips} clips: {present.number(r.latency_s, 's')}"
            + ("" if energy == present.MISSING else f", {energy}") + ".")


def progress_text(progress: Progress | None, name: str, compiles: bool = False) -> str:
    """The status line of a running model: 'Measuring batch 1 of 2, about 4 s left'."""
    if progress is None:
        return f"Starting {name}…"
    if progress.phase != MEASURING:
        text = PHASE_TEXT.get(progress.phase, f"{progress.phase.capitalize()}…")
        return f"{name}: " + (text if compiles or progress.phase != COMPILING else PHASE_TEXT[WARMING_UP])
    if progress.done >= progress.batches:
        return f"{name}: measured {progress.batches} of {progress.batches} batch(es)"
    left = f", about {math.ceil(progress.eta_s)} s left" if progress.eta_s >= 0 else ""  # NaN: no estimate yet
    return f"{name}: measuring batch {progress.done + 1} of {progress.batches}{left}"


def short_clip_note(models: Sequence[str], seconds: float) -> str:
    """Why a very short clip misleads on Whisper ('' when no Whisper model is chosen or the clip is long enough)."""
    def whisper(m: str) -> bool:
        try:
            return family_of(m) == "whisper"
        except ModelError:
            return False
    if seconds >= SHORT_CLIP_S or not any(whisper(m) for m in models):
        return ""
    return (f"This clip is shorter than {SHORT_CLIP_S:.0f} s: Whisper pads every clip to 30 s, so it costs as much "
            f"as a 30 s clip, and on so little speech Whisper may hallucinate words.")


def outcome_text(r: Result) -> str:
    """How one model's run ended, in a few words for the page's progress list."""
    if r.status == STATUS_OK:
        return f"done in {r.latency_s:.2f} s"
    if r.status == STATUS_CANCELLED:
        return f"stopped ({r.n_clips} clip(s) finished)" if r.n_clips else "stopped before the first clip finished"
    return "failed"
