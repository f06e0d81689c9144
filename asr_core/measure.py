"""Stage-timed transcription: preprocess, encoder, decoder (Whisper) or CTC head, per batch.

One loop serves every runtime; each runtime's ``Stages`` (``runtimes/base.py``) supplies preprocess, encode and
decode, or one engine call split by the engine's own timers. The device is synchronised only at stage
boundaries, so stage times add up to the end-to-end latency.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from . import carbon, scoring, system
from .audio import SAMPLE_RATE
from .energy import EnergyMonitor, Measurement
from .errors import ResourceError
from .hardware import CpuLoad
from .memory import PeakRss, resident_bytes
from .models import BYTES_PER_PARAM, CTC
from .results import STATUS_CANCELLED, Result
from .runtimes import STAGES, LoadedModel

FLOP_STEPS = 8  # forced decoder steps counted to split decoder FLOPs into a fixed and a per-token part
TOKENS_PER_WORD = 1.3  # English BPE tokens per word, used only when no tokenizer can count them
# Who is measuring, as a waiting run should name them (the app sets it per browser session).
RUN_OWNER: ContextVar[str] = ContextVar("run_owner", default="another run")


class Cancelled(Exception):
    """The run was stopped before its first measured batch finished: there is nothing to report."""


class _Stop(Exception):
    """Raised between stages when the run's stop event is set."""


class DeviceLock:
    """One device's lock, remembering who holds it (``RUN_OWNER``) and since when (epoch seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.holder, self.since = "", 0.0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got:
            self.holder, self.since = RUN_OWNER.get(), time.time()
        return got

    def release(self) -> None:
        self.holder, self.since = "", 0.0
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> DeviceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_DEVICE_LOCKS: dict[str, DeviceLock] = defaultdict(DeviceLock)


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


@dataclass(frozen=True)
class Progress:
    """Where a run is: phase "compiling", "warming up" or "measuring"; batches done of all; seconds left."""
    phase: str
    done: int
    batches: int
    elapsed_s: float
    eta_s: float = math.nan  # from the warm-up batch's time, then from the measured batches' pace


@dataclass
class _Rows:
    """The rows fed to the model: one per clip, or one per <=30 s window for long Whisper clips."""
    audio: list[np.ndarray]
    owner: list[int]  # clip index of each row
    tokens: list[int] = field(default_factory=list)  # forced new tokens per row (synthetic Whisper)


def device_lock(device: str) -> DeviceLock:
    """The lock transcribe holds while measuring on device; hold it to keep other work off a measurement."""
    return _DEVICE_LOCKS[device]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# --- the measured loop ------------------------------------------------------------------------


def count_tokens(model: LoadedModel, text: str, counter: Callable[[str], int] | None = None) -> int:
    if counter is not None:
        return counter(text)
    if model.tokenizer is not None and model.family != CTC:
        return len(model.tokenizer(text, add_special_tokens=False).input_ids)
    return max(1, round(len(text.split()) * TOKENS_PER_WORD))


def _make_rows(model: LoadedModel, clips: Sequence[np.ndarray], references: Sequence[str] | None,
               opts: RunOptions) -> _Rows:
    rows = _Rows([], [])
    for i, clip in enumerate(clips):
        pieces = model.windows(clip)
        if model.weights == "synthetic" and model.family != CTC:
            total = opts.tokens if opts.tokens else count_tokens(model, references[i] if references else "",
                                                                  opts.token_counter)
            share = [p.shape[0] / max(1, clip.shape[0]) for p in pieces]
            rows.tokens += [max(1, round(total * s)) for s in share]
        rows.audio += pieces
        rows.owner += [i] * len(pieces)
    return rows


def _batches(n: int, batch_size: int) -> list[range]:
    return [range(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _compile(model: LoadedModel, rows: _Rows, batches: list[range], device: str) -> float:
    """Compile (and capture CUDA graphs) for each batch size of this run not yet compiled; the seconds it took."""
    todo = model.to_compile({len(b) for b in batches})
    if not todo:
        return 0.0
    t0 = time.perf_counter()
    for batch in {len(b): b for b in batches if len(b) in todo}.values():
        for _ in range(model.compile_runs):
            _run_batch(model, rows, batch, None)
        model.mark_compiled(len(batch))
    sync(device)
    return time.perf_counter() - t0


def _warm_up(model: LoadedModel, rows: _Rows, batch: range, opts: RunOptions, control: RunControl) -> None:
    """The untimed first batch (module load, kernel selection, allocation); skipped when opts.warmup is off."""
    if opts.warmup:
        _run_batch(model, rows, batch, None, control.stop)


def _forced(rows: _Rows, batch: range) -> int | None:
    return max(rows.tokens[i] for i in batch) if rows.tokens else None


@dataclass(frozen=True)
class _ShapeFlops:
    """FLOPs of one batch shape: the encoder, the decoder's fixed part, and each generated token."""
    encoder: float  # the whole batch
    decoder_fixed: float  # the whole batch: cross-attention keys/values and the prompt, paid once per clip
    per_token: float  # one row, one decoder step (a CTC frame for CTC models)


def _shape(model: LoadedModel, rows: _Rows, batch: range) -> tuple[int, int]:
    """What a batch's FLOPs depend on: its rows and, for CTC, its padded length (Whisper pads to 30 s)."""
    return len(batch), max(rows.audio[i].shape[0] for i in batch) if model.family == CTC else 0


def _count_flops(model: LoadedModel, rows: _Rows, batches: list[range], opts: RunOptions) -> dict | None:
    """FLOPs of every distinct batch shape of the run, on the model's countable twin; None when not counted."""
    counter = model.flop_model
    if not opts.count_flops or counter is None:
        return None
    shapes: dict[tuple[int, int], _ShapeFlops] = {}
    for batch in batches:
        key = _shape(model, rows, batch)
        if key not in shapes:
            shapes[key] = _count_shape(counter, rows, batch)
    return shapes


def _counted(fn: Callable[[], Any]) -> tuple[Any, float]:
    with FlopCounterMode(display=False) as counter:
        out = fn()
    return out, float(counter.get_total_flops())


@torch.inference_mode()
def _count_shape(model: LoadedModel, rows: _Rows, batch: range) -> _ShapeFlops:
    """One batch counted: the encoder once; the decoder at 1 and FLOP_STEPS forced steps, so that its cost
    splits into a fixed part and a per-token part whatever the weights would have generated."""
    inputs = model.preprocess([rows.audio[i] for i in batch])
    enc, enc_flops = _counted(lambda: model.encode(inputs))
    if model.family == CTC:
        (_, frames), dec_flops = _counted(lambda: model.decode(enc, inputs, None))
        return _ShapeFlops(enc_flops, 0.0, dec_flops / max(1, len(batch) * frames))
    _, one = _counted(lambda: model.forced_decode(enc, inputs, 1))
    _, many = _counted(lambda: model.forced_decode(enc, inputs, FLOP_STEPS))
    per_step = (many - one) / (FLOP_STEPS - 1)
    return _ShapeFlops(enc_flops, one - per_step, per_step / len(batch))


def _flop_figures(shapes: dict | None, model: LoadedModel, rows: _Rows, batches: list[range],
                  tokens: list[int], n_clips: int) -> tuple[float, float, float]:
    """(encoder FLOPs per clip, decoder FLOPs per generated token, total FLOPs) over every batch of the run."""
    if shapes is None:
        return math.nan, math.nan, math.nan
    enc = fixed = per_token = 0.0
    for batch, n in zip(batches, tokens):
        shape = shapes[_shape(model, rows, batch)]
        enc, fixed, per_token = enc + shape.encoder, fixed + shape.decoder_fixed, per_token + shape.per_token * n
    return enc / n_clips, per_token / max(1, sum(tokens)), enc + fixed + per_token


def transcribe(model: LoadedModel, clips: Sequence[np.ndarray], references: Sequence[str] | None = None,
               options: RunOptions | None = None, monitor: EnergyMonitor | None = None,
               control: RunControl | None = None) -> Result:
    """Transcribe clips in batches and measure time, energy, memory and FLOPs per stage.

    model: from ``load_model``. clips: 16 kHz mono float32 arrays (``audio.load_audio``). references: one text
    per clip, for WER (pretrained weights) and the forced decoder length (synthetic Whisper). options: batch
    size, warm-up, FLOP counting, CO2e country (``RunOptions``). monitor: an open ``EnergyMonitor`` to measure
    with (the app passes one that streams power samples); by default one is opened for the run. control: a stop
    event and a progress callback (``RunControl``).
    """
    opts, control = options or RunOptions(), control or RunControl()
    if not clips:
        raise ValueError("no clips to transcribe")
    # 1. Rows and batches: long Whisper clips become <= 30 s windows; synthetic Whisper gets forced lengths.
    rows = _make_rows(model, clips, references, opts)
    batches = _batches(len(rows.audio), opts.batch_size)
    own_monitor = monitor is None
    monitor = monitor or EnergyMonitor(gpu_index=0 if model.device == "cuda" else None)
    report = _Reporter(control.on_progress, len(batches))
    with _DEVICE_LOCKS[model.device], torch.inference_mode(), _oom_as_resource_error(model, opts.batch_size):
        # 2. Outside the timer: compile new batch sizes, then the warm-up batch; the load of other work then.
        before = _Before(resident_bytes() or 0, CpuLoad())
        report("compiling")
        compile_s = _compile(model, rows, batches, model.device)
        report("warming up")
        warm_s = time.perf_counter()
        try:
            _warm_up(model, rows, batches[0], opts, control)
        except _Stop:
            raise Cancelled(f"Stopped during the warm-up: nothing measured for {model.model_id}.") from None
        sync(model.device)
        report.per_batch_s = (time.perf_counter() - warm_s) if opts.warmup else math.nan
        before.others_pct = before.load.others_pct()
        if model.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        # 3. Inside the timer: every batch, each stage in its own energy window, synchronised at its end.
        if own_monitor:
            monitor.start()
        during = CpuLoad()
        try:
            with PeakRss() as rss:
                loop = _measured_loop(model, rows, batches, monitor, model.device, control.stop, report)
        finally:
            if own_monitor:
                monitor.stop()
        loop.peak_rss_bytes = rss.peak_bytes
        loop.cpu_others_pct, loop.before = during.others_pct(), before
        done = batches[: len(loop.tokens)]  # all of them, unless the run was stopped
        # 4. After the timer (so counting never warms it): FLOPs of every distinct batch shape.
        shapes = _count_flops(model, rows, done, opts)
    # 5. The record: one transcript per clip, scores, and every figure with its source.
    if len(done) < len(batches):
        return _stopped(model, clips, references, opts, rows, batches, loop, compile_s, shapes, monitor)
    flops = _flop_figures(shapes, model, rows, batches, loop.tokens, len(clips))
    return _result(model, clips, references, opts, rows, batches, loop, compile_s, flops, monitor)


def _stopped(model: LoadedModel, clips: Sequence[np.ndarray], references: Sequence[str] | None, opts: RunOptions,
             rows: _Rows, batches: list[range], loop: _Loop, compile_s: float, shapes: dict | None,
             monitor: EnergyMonitor) -> Result:
    """The record of a stopped run: the clips whose every row finished, marked cancelled."""
    done = batches[: len(loop.tokens)]
    finished_rows = done[-1].stop if done else 0
    n = rows.owner[finished_rows] if finished_rows < len(rows.owner) else len(clips)  # clips wholly done
    if n == 0:
        raise Cancelled(f"Stopped before the first clip finished: nothing measured for {model.model_id}.")
    kept = _Rows(rows.audio[:finished_rows], rows.owner[:finished_rows], rows.tokens[:finished_rows])
    flops = _flop_figures(shapes, model, kept, done, loop.tokens, n)
    result = _result(model, clips[:n], references[:n] if references else None, opts, kept, done, loop, compile_s,
                     flops, monitor)
    note = (f"stopped after {len(done)} of {len(batches)} batches: figures cover the first {n} of {len(clips)} clips "
            f"(time and energy include the stages of the stopped batch that had run)")
    return dataclasses.replace(result, status=STATUS_CANCELLED, notes="; ".join(filter(None, [note, result.notes])))


@dataclass
class StageTotal:
    """Seconds and joules of one stage, summed over the batches of a run."""
    seconds: float = 0.0
    energy_j: float = 0.0


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


@dataclass
class _Loop:
    """What the measured loop produced: texts per row, stage totals, the run's window, generated tokens per
    batch, where the run sits on the power trace's clock, and the GPU allocator's peaks (read before anything
    else runs on the device)."""
    texts: list[str]
    stages: dict[str, StageTotal]
    run: Measurement
    tokens: list[int]
    from_s: float = math.nan
    to_s: float = math.nan
    peak_gpu_allocated_bytes: int = 0
    peak_gpu_reserved_bytes: int = 0
    peak_rss_bytes: int = 0
    cpu_others_pct: float = math.nan
    before: _Before | None = None

    @property
    def new_tokens(self) -> int:
        return sum(self.tokens)


def _result(model: LoadedModel, clips: Sequence[np.ndarray], references: Sequence[str] | None, opts: RunOptions,
            rows: _Rows, batches: list[range], loop: _Loop, compile_s: float, flops: tuple[float, float, float],
            monitor: EnergyMonitor) -> Result:
    hyps = _join_rows(loop.texts, rows.owner, len(clips))
    refs = tuple(references) if references else ()
    scored = model.weights == "pretrained" and bool(refs)
    audio_s = sum(c.shape[0] for c in clips) / SAMPLE_RATE
    wall, run = loop.run.time_s, loop.run
    enc_per_clip, dec_per_token, total_flops = flops
    pre, enc, dec = (loop.stages[s] for s in STAGES)
    versions = system.versions()
    return Result(
        model=model.model_id, family=model.family, weights=model.weights, device=model.device, precision=model.precision,
        runtime=model.runtime, batch_size=opts.batch_size, n_clips=len(clips), n_batches=len(batches), audio_s=audio_s,
        bucket=opts.bucket, snr_db=opts.snr_db, noise=opts.noise,
        preprocess_s=pre.seconds, encoder_s=enc.seconds, decoder_s=dec.seconds, latency_s=wall,
        latency_per_batch_s=wall / len(batches), latency_per_utt_s=wall / len(clips), rtf=wall / audio_s,
        throughput_audio_s_per_s=audio_s / wall, throughput_utt_per_s=len(clips) / wall, compile_s=compile_s,
        energy_j=run.energy_j, energy_source=run.energy_source,
        gpu_energy_j=run.gpu_energy_j, gpu_energy_source=run.gpu_source,
        cpu_energy_j=run.cpu_energy_j, cpu_energy_source=run.cpu_source,
        preprocess_energy_j=pre.energy_j, encoder_energy_j=enc.energy_j, decoder_energy_j=dec.energy_j,
        energy_per_utt_j=run.energy_j / len(clips), energy_per_audio_s_j=run.energy_j / audio_s,
        mean_power_w=run.energy_j / wall,
        co2e_kg=carbon.co2e_kg(run.energy_j, opts.co2e_country) if opts.co2e_country else math.nan,
        peak_gpu_allocated_bytes=loop.peak_gpu_allocated_bytes, peak_gpu_reserved_bytes=loop.peak_gpu_reserved_bytes,
        peak_rss_bytes=loop.peak_rss_bytes, rss_before_bytes=loop.before.rss_bytes if loop.before else 0,
        model_bytes=round(model.params * BYTES_PER_PARAM[model.precision]),
        encoder_flops_per_clip=enc_per_clip, decoder_flops_per_token=dec_per_token, total_flops=total_flops,
        decoder_tokens=loop.new_tokens,
        cpu_others_before_pct=loop.before.others_pct if loop.before else math.nan,
        cpu_others_during_pct=loop.cpu_others_pct,
        wer=scoring.wer(refs, hyps) if scored else math.nan,
        cer=scoring.cer(refs, hyps) if scored else math.nan,
        hypotheses=tuple(hyps), references=refs,
        cpu_name=system.cpu_name(), gpu_name=system.gpu_name(model.device),
        torch_version=versions["torch"], transformers_version=versions["transformers"],
        timestamp=system.now_iso(), notes=_notes(model, rows, clips, opts),
        power_trace=tuple(monitor.trace), measured_from_s=loop.from_s, measured_to_s=loop.to_s,
    )


def time_uninstrumented(model: LoadedModel, clips: Sequence[np.ndarray], options: RunOptions | None = None,
              references: Sequence[str] | None = None) -> tuple[list[str], float]:
    """The measured loop's work without windows, meters or per-stage syncs: (transcripts, seconds).

    For the instrumentation-overhead benchmark; warm up (and compile) with transcribe first.
    """
    opts = options or RunOptions()
    rows = _make_rows(model, clips, references, opts)
    with torch.inference_mode():
        sync(model.device)
        t0 = time.perf_counter()
        texts = [t for b in _batches(len(rows.audio), opts.batch_size) for t in _run_batch(model, rows, b, None)[0]]
        sync(model.device)
        wall = time.perf_counter() - t0
    return _join_rows(texts, rows.owner, len(clips)), wall


def _run_batch(model: LoadedModel, rows: _Rows, batch: range, window: _StageWindows | None,
               stop: threading.Event | None = None) -> tuple[list[str], int]:
    """One batch through the three stages; window(name) wraps each stage when measuring. A set stop event
    abandons the batch before its next stage (raising _Stop)."""
    def stage(name: str, fn: Callable[[], Any]) -> Any:
        if stop is not None and stop.is_set():
            raise _Stop
        if window is None:
            return fn()
        with window(name):
            return fn()
    if model.engine_timed:  # one engine call runs every stage: one window, split by the engine's own timers
        if stop is not None and stop.is_set():
            raise _Stop
        if window is None:
            return model.run([rows.audio[i] for i in batch], _forced(rows, batch))[:2]
        with window.engine() as own:
            texts, steps, split = model.run([rows.audio[i] for i in batch], _forced(rows, batch))
            own.update(split)
        return texts, steps
    inputs = stage("preprocess", lambda: model.preprocess([rows.audio[i] for i in batch]))
    enc = stage("encoder", lambda: model.encode(inputs))
    return stage("decoder", lambda: model.decode(enc, inputs, _forced(rows, batch)))


class _StageWindows:
    """window(name) for _run_batch: one energy window per stage, synchronised at its end, summed per stage."""

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


def _measured_loop(model: LoadedModel, rows: _Rows, batches: list[range], monitor: EnergyMonitor, device: str,
                   stop: threading.Event | None = None, report: Callable[..., None] | None = None) -> _Loop:
    windows = _StageWindows(monitor, device)
    texts: list[str] = []
    tokens: list[int] = []
    report = report or (lambda *args: None)
    report("measuring")
    from_s = monitor.trace_time()
    monitor.begin_window("run")
    t0 = time.perf_counter()
    for batch in batches:
        try:
            batch_texts, n = _run_batch(model, rows, batch, windows, stop)
        except _Stop:  # stopped: the unfinished batch is left out, the finished ones are kept
            break
        texts += batch_texts
        tokens.append(n * len(batch))
        report("measuring", len(tokens), time.perf_counter() - t0)
    sync(device)
    loop = _Loop(texts, windows.totals, monitor.end_window("run"), tokens, from_s, monitor.trace_time())
    if device == "cuda":
        loop.peak_gpu_allocated_bytes = torch.cuda.max_memory_allocated()
        loop.peak_gpu_reserved_bytes = torch.cuda.max_memory_reserved()
    return loop


def _join_rows(texts: list[str], owner: list[int], n: int) -> list[str]:
    """One text per clip from its rows' texts (rows of clips past n, a stopped run's last clip, are dropped)."""
    joined: list[list[str]] = [[] for _ in range(n)]
    for text, i in zip(texts, owner):
        if text and i < n:
            joined[i].append(text)
    return [" ".join(parts) for parts in joined]


def _notes(model: LoadedModel, rows: _Rows, clips: Sequence[np.ndarray], opts: RunOptions) -> str:
    notes = [f"runtime {model.runtime}: {model.note}"] if model.note else []
    if not opts.warmup:
        notes.append("no warm-up: a cold run, first-call costs (kernel selection, allocation) included")
    if len(rows.audio) > len(clips):
        notes.append(f"long-form: {len(clips)} clips cut into {len(rows.audio)} windows of <= 30 s at quiet points")
    if model.weights == "synthetic" and model.family == CTC:
        notes.append("weights=synthetic: random weights, timing only; no WER")
    elif model.weights == "synthetic":
        forced = (f"{opts.tokens} new tokens per clip (--tokens)" if opts.tokens
                  else "the reference's token count")
        notes.append(f"weights=synthetic: random weights, decoder forced to {forced}; no WER")
        if not opts.tokens and opts.token_counter is None and model.tokenizer is None:
            notes.append(f"token count estimated as {TOKENS_PER_WORD} x reference words")
        limit = model.decoder_limit()
        if limit is not None and rows.tokens and max(rows.tokens) > limit:
            notes.append(f"forced count capped at {limit} tokens per window, the decoder's limit")
    return "; ".join(notes)


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
