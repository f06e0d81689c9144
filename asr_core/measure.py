"""The measured loop: a loaded model transcribes clips in batches, timed and metered per stage.

One loop serves every runtime: each loaded model (``runtimes/base.py``) supplies preprocess, encode and decode,
or one engine call split by the engine's own timers. The device is synchronised only at stage boundaries, so
stage times add up to the end-to-end latency. What is around the loop lives beside it: FLOP counting in
``flops``, the device lock in ``locks`` (``runs.measure`` holds it), memory in ``memory``, energy in ``energy``,
the same work without instruments in ``uninstrumented``.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from . import carbon, flops, scoring, system
from .audio import SAMPLE_RATE
from .energy import EnergyMonitor, Measurement
from .errors import ResourceError
from .hardware import CpuLoad
from .memory import PeakRss, resident_bytes
from .models import BYTES_PER_PARAM, CTC
from .output_checks import output_notes
from .results import STATUS_CANCELLED, Result
from .runtimes import STAGES, LoadedModel

TOKENS_PER_WORD = 1.3  # English BPE tokens per word, used only when no tokenizer can count them
COMPILING, WARMING_UP, MEASURING = "compiling", "warming up", "measuring"  # Progress.phase, in order


class Cancelled(Exception):
    """The run was stopped before its first measured batch finished: there is nothing to report."""


class _Stop(Exception):
    """Raised between stages when the run's stop event is set."""


@dataclass(frozen=True)
class RunOptions:
    """What is measured, and how: the same options measure the same thing."""
    batch_size: int = 1
    tokens: int | None = None  # synthetic Whisper: force this many new tokens per clip
    warmup: bool = True  # one untimed batch first (module load, kernel selection, allocation)
    count_flops: bool = True  # FLOPs of each distinct batch shape, counted after the timed run
    bucket: str = ""
    co2e_country: str | None = None
    token_counter: Callable[[str], int] | None = None  # synthetic Whisper: counts a reference's tokens
    snr_db: float = math.inf  # the noise already mixed into the clips (runs.prepare mixes it): recorded as is
    noise: str = ""


@dataclass(frozen=True)
class RunControl:
    """How a run is steered while it goes, apart from what it measures."""
    stop: threading.Event | None = None  # set it to stop at the next stage boundary (the app's Stop button)
    on_progress: Callable[[Progress], None] | None = None  # told at each phase and after each measured batch
    # Set: FLOPs the cache lacks are not counted before the result is returned; instead this is handed a job that
    # counts them (into the cache) and returns the whole Result (runs.measure's job takes the device's lock itself).
    on_deferred_flops: Callable[[Callable[[], Result]], None] | None = None


@dataclass(frozen=True)
class Progress:
    """Where a run is: phase "compiling", "warming up" or "measuring"; batches done of all; seconds left."""
    phase: str
    done: int
    batches: int
    elapsed_s: float
    eta_s: float = math.nan  # from the warm-up batch's time, then from the measured batches' pace


# --- rows and batches -------------------------------------------------------------------------------------


@dataclass
class Rows:
    """The rows fed to the model: one per clip, or one per <=30 s window for long Whisper clips."""
    audio: list[np.ndarray] = field(default_factory=list)
    clip_index: list[int] = field(default_factory=list)  # the clip each row comes from
    tokens: list[int] = field(default_factory=list)  # forced new tokens per row (synthetic Whisper)

    def forced(self, batch: range) -> int | None:
        """A batch's forced new tokens (its longest row's), None when nothing is forced."""
        return max(self.tokens[i] for i in batch) if self.tokens else None

    def first(self, n_rows: int) -> Rows:
        return Rows(self.audio[:n_rows], self.clip_index[:n_rows], self.tokens[:n_rows])


def count_tokens(model: LoadedModel, text: str, counter: Callable[[str], int] | None = None) -> int:
    if counter is not None:
        return counter(text)
    if model.tokenizer is not None and model.family != CTC:
        return len(model.tokenizer(text, add_special_tokens=False).input_ids)
    return max(1, round(len(text.split()) * TOKENS_PER_WORD))


def rows_of(model: LoadedModel, clips: Sequence[np.ndarray], references: Sequence[str] | None,
            opts: RunOptions) -> Rows:
    """Each clip's windows as rows; synthetic Whisper's forced tokens shared among a clip's windows by length."""
    rows = Rows()
    for i, clip in enumerate(clips):
        windows = model.windows(clip)
        if model.weights == "synthetic" and model.family != CTC:
            total = opts.tokens if opts.tokens else count_tokens(model, references[i] if references else "",
                                                                  opts.token_counter)
            rows.tokens += [max(1, round(total * w.shape[0] / max(1, clip.shape[0]))) for w in windows]
        rows.audio += windows
        rows.clip_index += [i] * len(windows)
    return rows


def batches_of(n_rows: int, batch_size: int) -> list[range]:
    return [range(i, min(i + batch_size, n_rows)) for i in range(0, n_rows, batch_size)]


def join_rows(texts: list[str], clip_index: list[int], n: int) -> list[str]:
    """One text per clip from its rows' texts (rows of clips past n, a stopped run's last clip, are dropped)."""
    joined: list[list[str]] = [[] for _ in range(n)]
    for text, i in zip(texts, clip_index):
        if text and i < n:
            joined[i].append(text)
    return [" ".join(parts) for parts in joined]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# --- the measured loop ------------------------------------------------------------------------------------


def transcribe(model: LoadedModel, clips: Sequence[np.ndarray], references: Sequence[str] | None = None,
               options: RunOptions | None = None, monitor: EnergyMonitor | None = None,
               control: RunControl | None = None) -> Result:
    """Transcribe clips in batches and measure time, energy, memory and FLOPs per stage.

    model: from ``load_model``. clips: 16 kHz mono float32 arrays (``audio.load_audio``). references: one text
    per clip, for WER (pretrained weights) and the forced decoder length (synthetic Whisper). options: batch
    size, warm-up, FLOP counting, CO2e country (``RunOptions``). monitor: an open ``EnergyMonitor`` to measure
    with (the app passes one that streams power samples); by default one is opened for the run. control: a stop
    event and a progress callback (``RunControl``). Hold the device's lock around it (``runs.measure`` does).
    """
    opts, control = options or RunOptions(), control or RunControl()
    if not clips:
        raise ValueError("no clips to transcribe")
    # 1. Rows and batches: long Whisper clips become <= 30 s windows; synthetic Whisper gets forced lengths.
    rows = rows_of(model, clips, references, opts)
    batches = batches_of(len(rows.audio), opts.batch_size)
    own_monitor = monitor is None
    monitor = monitor or EnergyMonitor(gpu_index=0 if model.device == "cuda" else None)
    report = _Reporter(control.on_progress, len(batches))
    with torch.inference_mode(), _oom_as_resource_error(model, opts.batch_size):
        # 2. Outside the timer: compile new batch sizes, then the warm-up batch; the load of other work then.
        before = _Before(resident_bytes() or 0, CpuLoad())
        report(COMPILING)
        compile_s = _compile(model, rows, batches)
        report(WARMING_UP)
        report.per_batch_s = _warm_up(model, rows, batches[0], opts, control)
        before.others_pct = before.load.others_pct()
        if model.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        # 3. Inside the timer: every batch, each stage in its own energy window, synchronised at its end.
        if own_monitor:
            monitor.start()
        during = CpuLoad()
        try:
            with PeakRss() as rss:
                loop = _measured_loop(model, rows, batches, monitor, control.stop, report)
        finally:
            if own_monitor:
                monitor.stop()
        loop.peak_rss_bytes, loop.cpu_others_pct, loop.before = rss.peak_bytes, during.others_pct(), before
        run = _Run(model, list(clips), references, opts, rows, batches, loop, compile_s, None, monitor.trace)
        # 4. After the timer (so counting never warms it): FLOPs of every distinct batch shape that finished, from
        # the cache where it has them; the rest counted now, or later by the caller's job (on_deferred_flops).
        if opts.count_flops:
            defer = control.on_deferred_flops is not None
            run = dataclasses.replace(run, counted=flops.count(model, rows.audio, run.done, count_new=not defer))
    # 5. The record: one transcript per clip, scores, and every figure with its source.
    if run.counted is not None and run.counted.missing:
        control.on_deferred_flops(lambda: _record(dataclasses.replace(run, counted=flops.count(model, rows.audio,
                                                                                                run.done))))
    return _record(run)


def _record(run: _Run) -> Result:
    """The run's Result: a stopped run's covers the batches that finished."""
    return _stopped(run) if len(run.done) < len(run.batches) else _result(run)


def _compile(model: LoadedModel, rows: Rows, batches: list[range]) -> float:
    """Compile (and capture CUDA graphs) for each batch size of this run not yet compiled; the seconds it took."""
    todo = model.to_compile({len(b) for b in batches})
    if not todo:
        return 0.0
    t0 = time.perf_counter()
    for batch in {len(b): b for b in batches if len(b) in todo}.values():
        for _ in range(model.compile_runs):
            run_batch(model, rows, batch)
        model.mark_compiled(len(batch))
    sync(model.device)
    return time.perf_counter() - t0


def _warm_up(model: LoadedModel, rows: Rows, batch: range, opts: RunOptions, control: RunControl) -> float:
    """The untimed first batch (module load, kernel selection, allocation), skipped when opts.warmup is off; its
    seconds (the first estimate of a measured batch's), nan when skipped."""
    if not opts.warmup:
        return math.nan
    t0 = time.perf_counter()
    try:
        run_batch(model, rows, batch, stop=control.stop)
    except _Stop:
        raise Cancelled(f"Stopped during the warm-up: nothing measured for {model.model_id}.") from None
    sync(model.device)
    return time.perf_counter() - t0


def run_batch(model: LoadedModel, rows: Rows, batch: range, window: _StageWindows | None = None,
              stop: threading.Event | None = None) -> tuple[list[str], int]:
    """One batch through the three stages: (text per row, decoder steps per row). window(name) wraps each stage
    when measuring; a set stop event abandons the batch before its next stage (raising _Stop)."""
    def stage(name: str, fn: Callable[[], Any]) -> Any:
        if stop is not None and stop.is_set():
            raise _Stop
        if window is None:
            return fn()
        with window(name):
            return fn()
    audio = [rows.audio[i] for i in batch]
    if model.engine_timed:  # one engine call runs every stage: one window, split by the engine's own timers
        if stop is not None and stop.is_set():
            raise _Stop
        if window is None:
            return model.run(audio, rows.forced(batch))[:2]
        with window.engine() as own:
            texts, steps, split = model.run(audio, rows.forced(batch))
            own.update(split)
        return texts, steps
    inputs = stage("preprocess", lambda: model.preprocess(audio))
    enc = stage("encoder", lambda: model.encode(inputs))
    return stage("decoder", lambda: model.decode(enc, inputs, rows.forced(batch)))


@dataclass
class StageTotal:
    """Seconds and joules of one stage, summed over the batches of a run."""
    seconds: float = 0.0
    energy_j: float = 0.0


class _StageWindows:
    """window(name) for run_batch: one energy window per stage, synchronised at its end, summed per stage."""

    def __init__(self, monitor: EnergyMonitor, device: str):
        self.monitor, self.device = monitor, device
        self.totals = {s: StageTotal() for s in STAGES}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.monitor.begin_window(name)
        yield
        sync(self.device)
        m = self.monitor.end_window(name)
        self.totals[name].seconds += m.time_s
        self.totals[name].energy_j += m.energy_j

    @contextmanager
    def engine(self) -> Iterator[dict[str, float]]:
        """One window around an engine call that runs every stage; its time and energy go to the stages in the
        proportion of the engine's own seconds per stage, which the body puts in the dict it is given."""
        own: dict[str, float] = {}
        self.monitor.begin_window("engine")
        yield own
        sync(self.device)
        m = self.monitor.end_window("engine")
        total = sum(own.get(s, 0.0) for s in STAGES)
        for s in STAGES:
            share = own.get(s, 0.0) / total if total > 0 else 1 / len(STAGES)
            self.totals[s].seconds += m.time_s * share
            self.totals[s].energy_j += m.energy_j * share


@dataclass
class _Loop:
    """What the measured loop produced: texts per row, stage totals, the run's window, decoder steps per batch
    (all its rows), where the run sits on the power trace's clock, the GPU allocator's peaks (read before anything
    else runs on the device), and the machine around it."""
    texts: list[str]
    stages: dict[str, StageTotal]
    run: Measurement
    steps: list[int]
    from_s: float = math.nan
    to_s: float = math.nan
    peak_gpu_allocated_bytes: int = 0
    peak_gpu_reserved_bytes: int = 0
    peak_rss_bytes: int = 0
    cpu_others_pct: float = math.nan
    before: _Before | None = None


def _measured_loop(model: LoadedModel, rows: Rows, batches: list[range], monitor: EnergyMonitor,
                   stop: threading.Event | None, report: _Reporter) -> _Loop:
    windows = _StageWindows(monitor, model.device)
    texts: list[str] = []
    steps: list[int] = []
    report(MEASURING)
    from_s = monitor.trace_time()
    monitor.begin_window("run")
    t0 = time.perf_counter()
    for batch in batches:
        try:
            batch_texts, n = run_batch(model, rows, batch, windows, stop)
        except _Stop:  # stopped: the unfinished batch is left out, the finished ones are kept
            break
        texts += batch_texts
        steps.append(n * len(batch))
        report(MEASURING, len(steps), time.perf_counter() - t0)
    sync(model.device)
    loop = _Loop(texts, windows.totals, monitor.end_window("run"), steps, from_s, monitor.trace_time())
    if model.device == "cuda":
        loop.peak_gpu_allocated_bytes = torch.cuda.max_memory_allocated()
        loop.peak_gpu_reserved_bytes = torch.cuda.max_memory_reserved()
    return loop


# --- the record -----------------------------------------------------------------------------------------


@dataclass
class _Run:
    """Everything a measured run produced, from which its Result is assembled."""
    model: LoadedModel
    clips: list[np.ndarray]
    references: Sequence[str] | None
    opts: RunOptions
    rows: Rows
    batches: list[range]
    loop: _Loop
    compile_s: float
    counted: flops.Counted | None  # None: not counted (asked not to, or an engine with no PyTorch operators)
    trace: list  # the power trace, as the sampler read it

    @property
    def done(self) -> list[range]:
        """The batches that finished: all of them, unless the run was stopped."""
        return self.batches[: len(self.loop.steps)]


def _stopped(run: _Run) -> Result:
    """The record of a stopped run: the clips whose every row finished, marked cancelled."""
    done = run.done
    finished_rows = done[-1].stop if done else 0
    index = run.rows.clip_index
    n = index[finished_rows] if finished_rows < len(index) else len(run.clips)  # clips wholly done
    if n == 0:
        raise Cancelled(f"Stopped before the first clip finished: nothing measured for {run.model.model_id}.")
    kept = dataclasses.replace(run, clips=run.clips[:n], references=run.references[:n] if run.references else None,
                               rows=run.rows.first(finished_rows), batches=done)
    result = _result(kept)
    note = (f"stopped after {len(done)} of {len(run.batches)} batches: figures cover the first {n} of "
            f"{len(run.clips)} clips (time and energy include the stages of the stopped batch that had run)")
    return dataclasses.replace(result, status=STATUS_CANCELLED, notes="; ".join(filter(None, [note, result.notes])))


def _result(run: _Run) -> Result:
    model, opts, loop, clips = run.model, run.opts, run.loop, run.clips
    hyps = join_rows(loop.texts, run.rows.clip_index, len(clips))
    refs = tuple(run.references) if run.references else ()
    scored = model.weights == "pretrained" and bool(refs)
    audio_s = sum(c.shape[0] for c in clips) / SAMPLE_RATE
    wall, energy = loop.run.time_s, loop.run
    counted = flops.figures(run.counted, model, run.rows.audio, run.batches, loop.steps, len(clips))
    pre, enc, dec = (loop.stages[s] for s in STAGES)
    versions = system.versions()
    return Result(
        model=model.model_id, family=model.family, weights=model.weights, device=model.device,
        precision=model.precision, runtime=model.runtime, batch_size=opts.batch_size, n_clips=len(clips),
        n_batches=len(run.batches), audio_s=audio_s, bucket=opts.bucket, snr_db=opts.snr_db, noise=opts.noise,
        preprocess_s=pre.seconds, encoder_s=enc.seconds, decoder_s=dec.seconds, latency_s=wall,
        latency_per_batch_s=wall / len(run.batches), latency_per_utt_s=wall / len(clips), rtf=wall / audio_s,
        throughput_audio_s_per_s=audio_s / wall, throughput_utt_per_s=len(clips) / wall, compile_s=run.compile_s,
        energy_j=energy.energy_j, energy_source=energy.energy_source,
        gpu_energy_j=energy.gpu_energy_j, gpu_energy_source=energy.gpu_source,
        cpu_energy_j=energy.cpu_energy_j, cpu_energy_source=energy.cpu_source,
        preprocess_energy_j=pre.energy_j, encoder_energy_j=enc.energy_j, decoder_energy_j=dec.energy_j,
        energy_per_utt_j=energy.energy_j / len(clips), energy_per_audio_s_j=energy.energy_j / audio_s,
        mean_power_w=energy.energy_j / wall,
        co2e_kg=carbon.co2e_kg(energy.energy_j, opts.co2e_country) if opts.co2e_country else math.nan,
        peak_gpu_allocated_bytes=loop.peak_gpu_allocated_bytes, peak_gpu_reserved_bytes=loop.peak_gpu_reserved_bytes,
        peak_rss_bytes=loop.peak_rss_bytes, rss_before_bytes=loop.before.rss_bytes if loop.before else 0,
        model_bytes=round(model.params * BYTES_PER_PARAM[model.precision]),
        encoder_flops_per_clip=counted.encoder_per_clip, decoder_flops_per_token=counted.decoder_per_token,
        total_flops=counted.total, flops_source=run.counted.source if run.counted else "",
        decoder_steps=sum(loop.steps),
        cpu_others_before_pct=loop.before.others_pct if loop.before else math.nan,
        cpu_others_during_pct=loop.cpu_others_pct,
        wer=scoring.wer(refs, hyps) if scored else math.nan,
        cer=scoring.cer(refs, hyps) if scored else math.nan,
        hypotheses=tuple(hyps), references=refs,
        cpu_name=system.cpu_name(), gpu_name=system.gpu_name(model.device),
        torch_version=versions["torch"], transformers_version=versions["transformers"],
        timestamp=system.now_iso(), notes="; ".join(filter(None, [
            _notes(run), output_notes(clips, hyps, refs, model.weights)])),
        power_trace=tuple(run.trace), measured_from_s=loop.from_s, measured_to_s=loop.to_s,
    )


def _notes(run: _Run) -> str:
    model, opts, rows = run.model, run.opts, run.rows
    notes = [f"runtime {model.runtime}: {model.note}"] if model.note else []
    if not opts.warmup:
        notes.append("no warm-up: a cold run, first-call costs (kernel selection, allocation) included")
    if len(rows.audio) > len(run.clips):
        notes.append(f"long-form: {len(run.clips)} clips cut into {len(rows.audio)} windows of <= 30 s at quiet "
                     f"points")
    if model.weights == "synthetic" and model.family == CTC:
        notes.append("weights=synthetic: random weights, timing only; no WER")
    elif model.weights == "synthetic":
        forced = f"{opts.tokens} new tokens per clip (--tokens)" if opts.tokens else "the reference's token count"
        notes.append(f"weights=synthetic: random weights, decoder forced to {forced}; no WER")
        if not opts.tokens and opts.token_counter is None and model.tokenizer is None:
            notes.append(f"token count estimated as {TOKENS_PER_WORD} x reference words")
        limit = model.decoder_limit()
        if limit is not None and rows.tokens and max(rows.tokens) > limit:
            notes.append(f"forced count capped at {limit} tokens per window, the decoder's limit")
    return "; ".join(notes)


# --- around the loop ------------------------------------------------------------------------------------


@dataclass
class _Before:
    """The machine just before the timed run: resident memory, and other processes' CPU load meanwhile."""
    rss_bytes: int
    load: CpuLoad
    others_pct: float = math.nan


class _Reporter:
    """Calls on_progress (when given) with the phase, batches done and an estimate of the seconds left."""

    def __init__(self, on_progress: Callable[[Progress], None] | None, batches: int):
        self.on_progress, self.batches, self.t0 = on_progress, batches, time.perf_counter()
        self.per_batch_s = math.nan  # the warm-up batch's time: the first estimate of a measured batch

    def __call__(self, phase: str, done: int = 0, measured_s: float = math.nan) -> None:
        if self.on_progress is None:
            return
        pace = measured_s / done if done else self.per_batch_s
        progress = Progress(phase, done, self.batches, time.perf_counter() - self.t0, pace * (self.batches - done))
        try:
            self.on_progress(progress)
        except Exception:  # a broken progress display must not stop the measurement
            pass


class _oom_as_resource_error:
    """Turn out-of-memory into a ResourceError with advice, and free what the failed batch held."""

    def __init__(self, model: LoadedModel, batch_size: int):
        self.model, self.batch_size = model, batch_size

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        oom = isinstance(exc, torch.OutOfMemoryError) or isinstance(exc, MemoryError) or (
            isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())
        if not oom:
            return False
        if self.model.device == "cuda":
            torch.cuda.empty_cache()
        gpu = self.model.device == "cuda"
        advice = "a smaller --batch-size or precision fp16" if gpu else "a smaller --batch-size or a smaller model"
        raise ResourceError(f"Out of {'GPU ' if gpu else ''}memory running {self.model.model_id} at batch size "
                            f"{self.batch_size}: try {advice}.") from None
