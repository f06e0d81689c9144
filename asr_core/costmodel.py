"""Projected cost on hardware we have not measured: a first-principles (roofline) model, labelled `projected`.

For a Whisper or wav2vec2 architecture (``archflops``), a precision, a batch size, a clip length and a device
from ``precomputed/hardware.csv``, each stage's time is

    kernel time = max(FLOPs / (peak FLOP/s x compute_eff), bytes / (bandwidth x bandwidth_eff)), for the linear
                  kernels (weights) and for attention (keys and values) in turn
    encoder     = one part per batch (weights once, activations per row) + encoder layers x layer_overhead_s
    decoder     = the cross-attention K/V part, then one part per step: FLOPs per row x rows against compute,
                  decoder weights + every row's self- and cross-attention K/V against bandwidth
                  (+ step_overhead_s + decoder layers x layer_overhead_s per step: Python and kernel launches)
    CTC head    = one part (+ one layer_overhead_s)
    preprocess  = preprocess_s_per_audio_s x padded audio seconds (host side)

Decoder steps come from the clip length x the decoder steps per second of speech measured on real weights,
times a padding factor (a batch decodes until its longest row ends). Energy is time x a power model: idle power
+ the busy share of each stage x (board power - idle). The factors (compute_eff, bandwidth_eff, attention_eff,
layer_overhead_s, step_overhead_s, preprocess_s_per_audio_s, idle_share) are fitted per device kind and runtime by
``costfit`` and stored in ``precomputed/costmodel_fit.json``; every figure here is `projected`, never written into a
sweep. The device table lives in ``hardware_table`` (its names are re-exported here: one import for callers).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from . import archflops as af
from .buckets import BUCKETS, bucket_seconds
from .energy_sources import PROJECTED
from .hardware_table import (CPU, GPU, HARDWARE_CSV, THIS_CPU, Hardware, HardwareTableError,  # noqa: F401
                             ProjectionError, find_hardware, load_hardware)
from .models import CTC, PRECISIONS, RUNTIMES, TRANSFORMERS, ModelError, batch_problem, combination_problem

ROOT = Path(__file__).resolve().parents[1]
FIT_JSON = ROOT / "precomputed" / "costmodel_fit.json"
BOUND_HOST = "host"  # preprocessing runs on the host CPU whatever the device
# Used only where the fit file has no factors for a GPU (no published figure marked "fit"): assumptions, not
# measurements, and every projection that uses them says "prior" in factors_source.
GPU_PRIOR = dict(compute_eff=0.5, bandwidth_eff=0.7, attention_eff=0.5, layer_overhead_s=50e-6,
                 step_overhead_s=1e-3, idle_share=0.25)


# --- fitted factors ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Factors:
    """The few fitted numbers of one device kind and runtime; source says what they were fitted on."""
    compute_eff: float
    bandwidth_eff: float
    attention_eff: float  # attention kernels' share of those (decoding reads K/V for one query: it lags GEMMs)
    layer_overhead_s: float  # per layer and forward pass: kernel launches
    step_overhead_s: float  # per decoder step: the generate loop's Python and logits processing
    preprocess_s_per_audio_s: float  # host CPU seconds per padded second of audio
    idle_share: float  # idle power as a share of board power, where the table gives no idle figure
    source: str


@dataclass(frozen=True)
class Fit:
    """What ``costfit`` fitted: factors per "kind/runtime", the speech rate, and the validation errors seen."""
    factors: dict[str, Factors]
    steps_per_audio_s: float  # decoder steps per second of speech (batch 1, real weights, end-of-text included)
    padding_per_log_batch: float  # a batch of B decodes (1 + this x ln B) times the steps of one row
    validation: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str = ""

    def factors_for(self, kind: str, runtime: str) -> Factors:
        """This kind's and runtime's factors; else the kind's transformers factors; else (GPU) the priors."""
        for key in (f"{kind}/{runtime}", f"{kind}/{TRANSFORMERS}"):
            if key in self.factors:
                f = self.factors[key]
                return f if key == f"{kind}/{runtime}" else dataclasses.replace(
                    f, source=f"{f.source}; the {TRANSFORMERS} runtime's ({runtime} has no factors of its own)")
        if kind == GPU:
            return self.gpu_prior(runtime)
        raise ProjectionError(f"The fit file has no {kind} factors: run python benchmarks/validate_costmodel.py "
                              f"--write-fit.")

    def gpu_prior(self, runtime: str) -> Factors:
        """Assumed GPU factors, except what runs on the host whatever the device: the per-step Python cost and
        preprocessing, as fitted on this CPU for this runtime (or transformers) where a fit exists."""
        host = self.factors.get(f"{CPU}/{runtime}")
        values = {**GPU_PRIOR, "preprocess_s_per_audio_s": 0.0}
        source = "prior: assumed, not fitted (no published GPU figure marked 'fit' for this runtime)"
        if host is not None:
            values |= {"step_overhead_s": host.step_overhead_s,
                       "preprocess_s_per_audio_s": host.preprocess_s_per_audio_s}
            source += f"; host costs per step and per audio second as fitted on the CPU ({runtime})"
        elif (base := self.factors.get(f"{CPU}/{TRANSFORMERS}")) is not None:
            values["preprocess_s_per_audio_s"] = base.preprocess_s_per_audio_s
        return Factors(**values, source=source)

    def error_for(self, hw: Hardware, runtime: str) -> str:
        """The validation error seen for this device (or its kind) and runtime, as one phrase."""
        for key in (f"{hw.hardware_id}/{runtime}", f"{hw.kind}/{runtime}"):
            if key in self.validation:
                return self.validation[key]["summary"]
        return f"none: {runtime} on a {hw.kind} has not been checked against a measured or published figure"


def load_fit(path: str | os.PathLike = FIT_JSON) -> Fit:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ProjectionError(f"{Path(path).name} is missing or unreadable: run python "
                              f"benchmarks/validate_costmodel.py --write-fit.") from None
    factors = {k: Factors(**v) for k, v in data["factors"].items()}
    return Fit(factors, data["steps_per_audio_s"], data["padding_per_log_batch"], data.get("validation", {}),
               data.get("note", ""))


def save_fit(fit: Fit, path: str | os.PathLike = FIT_JSON) -> None:
    data = {"kind": PROJECTED, "note": fit.note, "steps_per_audio_s": fit.steps_per_audio_s,
            "padding_per_log_batch": fit.padding_per_log_batch,
            "factors": {k: dataclasses.asdict(v) for k, v in fit.factors.items()}, "validation": fit.validation}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


# --- stage times ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Batch:
    """Rows run together: Whisper windows (padded to 30 s) or CTC clips (padded to the longest), and the
    decoder steps of the batch (its longest row's; 0 for CTC)."""
    rows: int
    row_audio_s: float
    steps: float = 0.0


@dataclass
class StageTime:
    """One stage's seconds, split by what bound each part, and its FLOPs."""
    compute_s: float = 0.0
    memory_s: float = 0.0
    overhead_s: float = 0.0
    flops: float = 0.0
    host: bool = False

    def add(self, compute_s: Any, memory_s: Any, flops: Any) -> None:
        c, m = np.asarray(compute_s, float), np.asarray(memory_s, float)
        self.compute_s += float(np.where(c >= m, c, 0).sum())
        self.memory_s += float(np.where(c < m, m, 0).sum())
        self.flops += float(np.sum(flops))

    @property
    def seconds(self) -> float:
        return self.compute_s + self.memory_s + self.overhead_s

    @property
    def busy_s(self) -> float:
        return self.compute_s + self.memory_s

    @property
    def bound(self) -> str:
        if self.host:
            return BOUND_HOST
        parts = {"compute": self.compute_s, "memory": self.memory_s, "overhead": self.overhead_s}
        return max(parts, key=parts.get)


def stage_times(arch: af.Arch, hw: Hardware, precision: str, f: Factors, batches: Sequence[Batch],
                beam: int = 1) -> dict[str, StageTime]:
    """Seconds of preprocess, encoder and decoder (or CTC head) over these batches."""
    peak, bw = hw.peak(precision) * f.compute_eff, hw.memory_bytes_s * f.bandwidth_eff
    pre, enc, dec = StageTime(host=True), StageTime(), StageTime()

    def part(stage: StageTime, w: af.Work) -> None:
        # the linear kernels and attention run one after the other: each is bound by compute or memory
        stage.add(w.linear_flops / peak, w.linear_bytes / bw, w.linear_flops)
        stage.add(w.attention_flops / (peak * f.attention_eff), w.attention_bytes / (bw * f.attention_eff),
                  w.attention_flops)

    for b in batches:
        pre.overhead_s += f.preprocess_s_per_audio_s * b.rows * b.row_audio_s
        if arch.family == CTC:
            samples = int(round(b.row_audio_s * af.SAMPLE_RATE))
            part(enc, _rows(af.ctc_encoder(arch, precision, samples), b.rows))
            part(dec, _rows(af.ctc_head(arch, precision, af.ctc_frames(arch, samples)), b.rows))
            enc.overhead_s += arch.enc_layers * f.layer_overhead_s
            dec.overhead_s += f.layer_overhead_s
            continue
        part(enc, _rows(af.whisper_encoder(arch, precision), b.rows))
        enc.overhead_s += arch.enc_layers * f.layer_overhead_s
        rows = b.rows * beam
        part(dec, _rows(af.whisper_decoder_fixed(arch, precision), b.rows))
        n = max(1, int(round(b.steps)))
        steps = af.whisper_step(arch, precision, rows, arch.prompt_tokens + np.arange(n))
        part(dec, steps)
        # the first step reads the whole prompt: its other tokens cost FLOPs, not more weight reads
        dec.add(rows * (arch.prompt_tokens - 1) * af.whisper_step_linear_flops(arch) / peak, 0.0, 0.0)
        dec.overhead_s += n * (f.step_overhead_s + arch.dec_layers * f.layer_overhead_s)
    return {"preprocess": pre, "encoder": enc, "decoder": dec}


def decoder_step_seconds(arch: af.Arch, hw: Hardware, precision: str, f: Factors, rows: int,
                         positions: np.ndarray) -> np.ndarray:
    """Seconds of single decoder steps of a batch of rows at these positions (past tokens), overheads included."""
    w = af.whisper_step(arch, precision, rows, positions)
    peak, bw = hw.peak(precision) * f.compute_eff, hw.memory_bytes_s * f.bandwidth_eff
    linear = np.maximum(w.linear_flops / peak, w.linear_bytes / bw)
    attention = np.maximum(w.attention_flops / peak, w.attention_bytes / bw) / f.attention_eff
    return linear + attention + f.step_overhead_s + arch.dec_layers * f.layer_overhead_s


def _rows(w: af.Work, rows: int) -> af.Work:
    """A row's work for a batch of rows: FLOPs and activations per row, weights read once."""
    return af.Work(w.linear_flops * rows, w.attention_flops * rows, w.weight_bytes, w.activation_bytes * rows,
                   w.attention_bytes * rows)


def energy(stages: dict[str, StageTime], hw: Hardware, f: Factors) -> float:
    """Joules: idle power all along, plus (board - idle) while the device is busy. On a CPU every stage keeps
    the CPU busy (host work, Python and kernels alike), as the sweep's CPU estimate assumes."""
    idle = hw.idle_power_w if math.isfinite(hw.idle_power_w) else f.idle_share * hw.board_power_w
    if hw.kind == CPU:
        idle = 0.0
    total = 0.0
    for s in stages.values():
        busy = s.seconds if hw.kind == CPU else (0.0 if s.host else s.busy_s)
        total += idle * s.seconds + busy * (hw.board_power_w - idle)
    return total


def power_source(hw: Hardware, f: Factors) -> str:
    if hw.kind == CPU:
        return (f"{PROJECTED}: {hw.board_power_w:.0f} W x busy time (asr_core.hardware's CPU estimate, "
                f"CodeCarbon's fallback TDP)")
    idle = (f"idle {hw.idle_power_w:.0f} W (spec)" if math.isfinite(hw.idle_power_w)
            else f"idle {f.idle_share:.0%} of board power ({f.source.split(':')[0]})")
    return f"{PROJECTED}: {idle} + busy share x (board {hw.board_power_w:.0f} W - idle); device board only"


# --- projections -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Projection:
    """A projected run: n_clips clips of clip_s seconds in batches of batch_size (per batch of clips, not
    per clip, unless the name says so). Every figure is `projected` (kind)."""
    model: str
    hardware_id: str
    hardware_name: str
    precision: str
    runtime: str
    batch_size: int
    bucket: str
    clip_s: float
    n_clips: int
    beam: int
    audio_s: float
    preprocess_s: float
    encoder_s: float
    decoder_s: float
    latency_s: float
    latency_per_clip_s: float
    rtf: float
    rtfx: float
    decoder_steps_per_window: float
    total_flops: float
    energy_j: float
    energy_per_audio_s_j: float
    mean_power_w: float
    preprocess_bound: str
    encoder_bound: str
    decoder_bound: str
    power_source: str
    factors_source: str
    validation_error: str
    notes: str
    kind: str = PROJECTED

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def clip_seconds(bucket: str) -> float:
    """A bucket's nominal clip length ('30s' -> 30.0); ProjectionError naming the buckets for another name."""
    if bucket not in BUCKETS:
        raise ProjectionError(f"Unknown bucket '{bucket}': use one of {', '.join(BUCKETS)}.")
    return bucket_seconds(bucket)


def check_request(model: str, hardware_id: str, precision: str, batch_size: int, bucket: str, runtime: str,
                  table: dict[str, Hardware]) -> tuple[af.Arch, Hardware]:
    """Refuse a projection that cannot be made, one sentence each, before any work: the architecture and
    device it will use."""
    if batch_size < 1:
        raise ProjectionError(f"--batch-size must be at least 1, not {batch_size}.")
    clip_seconds(bucket)
    if precision not in PRECISIONS:
        raise ProjectionError(f"Unknown precision '{precision}': use one of {', '.join(PRECISIONS)}.")
    if runtime not in RUNTIMES:
        raise ProjectionError(f"Unknown runtime '{runtime}': use one of {', '.join(RUNTIMES)}.")
    hw = find_hardware(hardware_id, table)
    hw.peak(precision)  # refuses a precision the device lacks or the table has no figure for
    arch = af.arch_of(model)
    if why := combination_problem(arch.family, precision, runtime) or batch_problem(runtime, batch_size):
        raise ProjectionError(f"Cannot project {arch.name} at {precision} with runtime {runtime}, batch {batch_size}: "
                              f"{why}.")
    return arch, hw


def whisper_batches(arch: af.Arch, fit: Fit, clip_s: float, n_clips: int, batch_size: int,
                    steps_per_window: float | None = None) -> list[Batch]:
    """n_clips clips cut into 30 s windows, batch_size windows at a time, each batch decoding as many steps as
    the speech rate gives its longest row."""
    windows = af.whisper_windows(clip_s) * n_clips
    if steps_per_window is None:
        speech_s = clip_s / af.whisper_windows(clip_s)
        steps_per_window = fit.steps_per_audio_s * speech_s
    sizes = [batch_size] * (windows // batch_size) + ([windows % batch_size] if windows % batch_size else [])
    return [Batch(n, af.WHISPER_WINDOW_S, steps_per_window * padding(fit, n)) for n in sizes]


def ctc_batches(n_clips: int, batch_size: int, clip_s: float) -> list[Batch]:
    sizes = [batch_size] * (n_clips // batch_size) + ([n_clips % batch_size] if n_clips % batch_size else [])
    return [Batch(n, clip_s) for n in sizes]


def padding(fit: Fit, rows: int) -> float:
    """How many more steps a batch of rows decodes than one row: it runs until its longest row ends."""
    return 1.0 + fit.padding_per_log_batch * math.log(max(1, rows))


def project(model: str, hardware_id: str, precision: str = "fp32", batch_size: int = 1, bucket: str = "30s",
            runtime: str = TRANSFORMERS, *, clip_s: float | None = None, n_clips: int | None = None,
            beam: int = 1, fit: Fit | None = None, table: dict[str, Hardware] | None = None) -> Projection:
    """Project one run: batch_size clips (or n_clips) of the bucket's length (or clip_s) through model on a
    device of the hardware table, per stage, with energy; every figure labelled `projected`.

    model: a registry id or a folder with a Whisper/wav2vec2 config.json. hardware_id: a hardware.csv id
    (a unique prefix will do). beam: decoder beams (faster-whisper's benchmark uses 5). fit/table: default to
    the shipped fit file and hardware table. Bad input raises ProjectionError (one sentence).
    """
    table = load_hardware() if table is None else table
    arch, hw = check_request(model, hardware_id, precision, batch_size, bucket, runtime, table)
    fit = load_fit() if fit is None else fit
    f = fit.factors_for(hw.kind, runtime)
    clip = clip_seconds(bucket) if clip_s is None else clip_s
    n = batch_size if n_clips is None else n_clips
    batches = (ctc_batches(n, batch_size, clip) if arch.family == CTC else whisper_batches(arch, fit, clip, n,
                                                                                           batch_size))
    stages = stage_times(arch, hw, precision, f, batches, beam)
    return _projection(model, hw, precision, runtime, batch_size, bucket, clip, n, beam, stages, batches, f, fit)


def _projection(model: str, hw: Hardware, precision: str, runtime: str, batch_size: int, bucket: str, clip: float,
                n: int, beam: int, stages: dict[str, StageTime], batches: list[Batch], f: Factors,
                fit: Fit) -> Projection:
    latency = sum(s.seconds for s in stages.values())
    audio = clip * n
    joules = energy(stages, hw, f)
    notes = [f"{hw.name} figures from {hw.source}"]
    if hw.provisional:
        notes.append("this CPU's peaks are a provisional microbenchmark (loaded machine)")
    if hw.kind == GPU:
        notes.append("preprocess is the host CPU's, as fitted on this project's CPU")
    pre, enc, dec = (stages[k] for k in ("preprocess", "encoder", "decoder"))
    return Projection(
        model=model, hardware_id=hw.hardware_id, hardware_name=hw.name, precision=precision, runtime=runtime,
        batch_size=batch_size, bucket=bucket, clip_s=clip, n_clips=n, beam=beam, audio_s=audio,
        preprocess_s=pre.seconds, encoder_s=enc.seconds, decoder_s=dec.seconds, latency_s=latency,
        latency_per_clip_s=latency / n, rtf=latency / audio, rtfx=audio / latency,
        decoder_steps_per_window=max((b.steps for b in batches), default=0.0),
        total_flops=sum(s.flops for s in stages.values()), energy_j=joules, energy_per_audio_s_j=joules / audio,
        mean_power_w=joules / latency, preprocess_bound=pre.bound, encoder_bound=enc.bound,
        decoder_bound=dec.bound, power_source=power_source(hw, f), factors_source=f.source,
        validation_error=fit.error_for(hw, runtime), notes="; ".join(notes))


def project_grid(models: Iterable[str], hardware_ids: Iterable[str], precisions: Iterable[str] = ("fp32",),
                 batch_sizes: Iterable[int] = (1,), buckets: Iterable[str] = ("30s",), runtime: str = TRANSFORMERS,
                 fit: Fit | None = None, table: dict[str, Hardware] | None = None) -> pd.DataFrame:
    """Every combination as one projected row (Projection's fields); a combination that cannot be projected
    keeps its keys, NaN figures and its reason in 'refused'."""
    table, fit = load_hardware() if table is None else table, load_fit() if fit is None else fit
    rows = []
    for m in models:
        for h in hardware_ids:
            for p in precisions:
                for b in batch_sizes:
                    for k in buckets:
                        try:
                            rows.append({**project(m, h, p, b, k, runtime, fit=fit, table=table).to_dict(),
                                         "refused": ""})
                        except ModelError as exc:
                            rows.append({"model": m, "hardware_id": h, "precision": p, "batch_size": b,
                                         "bucket": k, "runtime": runtime, "kind": PROJECTED, "refused": str(exc)})
    return pd.DataFrame(rows)


def describe(p: Projection) -> str:
    """A readable report of one projection; every figure says it is projected."""
    wh = p.energy_j / 3600
    lines = [f"{p.model} on {p.hardware_name} ({p.hardware_id}), {p.precision}, {p.runtime}, batch {p.batch_size} x "
             f"{p.clip_s:g} s clips ({p.bucket}) -- {PROJECTED.upper()} by the cost model, not measured",
             f"  preprocess {p.preprocess_s:10.4g} s  projected, {p.preprocess_bound}",
             f"  encoder    {p.encoder_s:10.4g} s  projected, {p.encoder_bound}-bound",
             f"  {'CTC head' if p.decoder_steps_per_window == 0 else 'decoder '}   {p.decoder_s:10.4g} s  projected, "
             f"{p.decoder_bound}-bound",
             f"  total      {p.latency_s:10.4g} s  projected for {p.audio_s:g} s of audio: "
             f"{p.latency_per_clip_s:.3g} s per clip, RTF {p.rtf:.3g} (RTFx {p.rtfx:.3g})",
             f"  energy     {p.energy_j:10.4g} J  projected ({wh:.3g} Wh; {p.energy_per_audio_s_j:.3g} J per audio "
             f"second; mean {p.mean_power_w:.3g} W)",
             f"  power model: {p.power_source}"]
    if p.decoder_steps_per_window:
        lines.append(f"  decoder steps per 30 s window: {p.decoder_steps_per_window:.0f} projected "
                     f"(speech rate x batch padding)")
    lines += [f"  factors: {p.factors_source}", f"  validation error seen: {p.validation_error}",
              f"  notes: {p.notes}"]
    return "\n".join(lines)
