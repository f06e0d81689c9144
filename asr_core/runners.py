"""Stage-timed transcription: preprocess, encoder, decoder (Whisper) or CTC head, per batch.

One loop serves both families; each family supplies three stage functions. The device is
synchronised only at stage boundaries, so stage times add up to the end-to-end latency.
"""
from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from . import system
from .audio import SAMPLE_RATE, split_long
from .models import CTC, TRANSFORMERS, LoadedModel
from .results import Result

WHISPER_WINDOW_S = 30.0
TOKENS_PER_WORD = 1.3  # English BPE tokens per word, used only when no tokenizer can count them
WHISPER_LANGUAGES, WHISPER_V2_VOCAB = 99, 51865  # large-v3's vocabulary adds one language token
STAGES = ("preprocess", "encoder", "decoder")
_DEVICE_LOCKS: dict[str, threading.Lock] = defaultdict(threading.Lock)


class ResourceError(RuntimeError):
    """The run did not fit the device (out of memory); the message suggests a smaller batch."""


@dataclass
class RunOptions:
    batch_size: int = 1
    tokens: int | None = None  # synthetic Whisper: force this many new tokens per clip
    warmup: bool = True  # one untimed batch first (module load, kernel selection); FLOPs are counted there
    count_flops: bool = True
    bucket: str = ""
    co2e_country: str | None = None
    token_counter: Callable[[str], int] | None = None


@dataclass
class _Rows:
    """The rows fed to the model: one per clip, or one per <=30 s window for long Whisper clips."""
    audio: list[np.ndarray]
    owner: list[int]  # clip index of each row
    tokens: list[int] = field(default_factory=list)  # forced new tokens per row (synthetic Whisper)


def device_lock(device: str) -> threading.Lock:
    """The lock transcribe holds while measuring on device; hold it to keep other work off a measurement."""
    return _DEVICE_LOCKS[device]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# --- family stages -------------------------------------------------------------------------


class WhisperStages:
    def __init__(self, lm: LoadedModel):
        self.lm = lm
        cfg = lm.model.config
        # <|startoftranscript|><|en|><|transcribe|><|notimestamps|> for multilingual models
        start, langs = cfg.decoder_start_token_id, whisper_languages(cfg)
        self.prompt = ([start, start + 1, start + langs + 2, start + langs + 6] if lm.multilingual
                       else [start, start + 105])

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        feats = self.lm.feature_extractor(list(audio), sampling_rate=SAMPLE_RATE, return_tensors="pt")
        x = feats.input_features.to(self.lm.device, self.lm.dtype, non_blocking=True)
        return {"input_features": x}

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.lm.model.model.encoder(inputs["input_features"])

    def forced_tokens(self, new_tokens: int | None) -> int:
        """Synthetic weights: the new tokens to force, within the decoder's positions."""
        return max(1, min(new_tokens or 1, self.lm.model.config.max_target_positions - len(self.prompt)))

    def generate_kwargs(self, batch: int) -> dict[str, Any]:
        """Extra generate arguments (a runtime's static cache and compile settings); none for eager."""
        return {}

    def decode(self, enc: Any, inputs: dict[str, torch.Tensor], new_tokens: int | None) -> tuple[list[str], int]:
        model, batch = self.lm.model, inputs["input_features"].shape[0]
        extra = self.generate_kwargs(batch)
        if self.lm.weights == "synthetic":
            from transformers import GenerationMixin
            prompt = torch.tensor([self.prompt] * batch, device=self.lm.device)
            n = self.forced_tokens(new_tokens)
            out = GenerationMixin.generate(model, encoder_outputs=enc, decoder_input_ids=prompt, do_sample=False,
                                           num_beams=1, min_new_tokens=n, max_new_tokens=n, **extra)
            return [""] * batch, out.shape[1] - prompt.shape[1]
        kwargs = {"language": "en", "task": "transcribe"} if self.lm.multilingual else {}
        out = model.generate(encoder_outputs=enc, **kwargs, **extra)
        texts = self.lm.tokenizer.batch_decode(out, skip_special_tokens=True)
        return [t.strip() for t in texts], out.shape[1] - _prompt_len(out, model)


def whisper_languages(config: Any) -> int:
    """Language tokens in a multilingual Whisper vocabulary (99; large-v3 added one)."""
    return WHISPER_LANGUAGES + max(0, config.vocab_size - WHISPER_V2_VOCAB)


def _prompt_len(out: torch.Tensor, model: Any) -> int:
    """Leading special tokens in generate's output (start, language, task, no-timestamps)."""
    first_text = model.generation_config.eos_token_id  # every special token id sits above eos
    row = out[0].tolist()
    n = 0
    while n < len(row) and row[n] > first_text:
        n += 1
    return n


class CTCStages:
    def __init__(self, lm: LoadedModel):
        self.lm = lm

    def preprocess(self, audio: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        fe = self.lm.feature_extractor
        feats = fe(list(audio), sampling_rate=SAMPLE_RATE, return_tensors="pt", padding=True,
                   return_attention_mask=fe.return_attention_mask)
        inputs = {"input_values": feats.input_values.to(self.lm.device, self.lm.dtype, non_blocking=True),
                  "lengths": torch.tensor([a.shape[0] for a in audio])}
        if "attention_mask" in feats:
            inputs["attention_mask"] = feats.attention_mask.to(self.lm.device, non_blocking=True)
        return inputs

    def encode(self, inputs: dict[str, torch.Tensor]) -> Any:
        return self.lm.model.wav2vec2(inputs["input_values"],
                                      attention_mask=inputs.get("attention_mask")).last_hidden_state

    def decode(self, enc: Any, inputs: dict[str, torch.Tensor], new_tokens: int | None) -> tuple[list[str], int]:
        ids = self.lm.model.lm_head(enc).argmax(dim=-1).cpu()
        frames = self.lm.model._get_feat_extract_output_lengths(inputs["lengths"]).tolist()
        texts = [self.lm.tokenizer.decode(ids[i, : int(n)]) for i, n in enumerate(frames)]
        return [t.strip() for t in texts], ids.shape[1]


def stages_for(lm: LoadedModel) -> WhisperStages | CTCStages:
    if lm.runtime != TRANSFORMERS:
        from . import runtimes
        return runtimes.stages_for(lm)
    return CTCStages(lm) if lm.family == CTC else WhisperStages(lm)


# --- plain reference paths (used by tests to prove the instrumented path changes nothing) ----


@torch.inference_mode()
def plain_transcribe(lm: LoadedModel, audio: Sequence[np.ndarray]) -> list[str]:
    """Transcribe the way a user would without us: one model.generate / forward call."""
    if lm.family == CTC:
        st = CTCStages(lm)
        inputs = st.preprocess(audio)
        logits = lm.model(inputs["input_values"], attention_mask=inputs.get("attention_mask")).logits
        frames = lm.model._get_feat_extract_output_lengths(inputs["lengths"]).tolist()
        ids = logits.argmax(-1).cpu()
        return [lm.tokenizer.decode(ids[i, : int(n)]).strip() for i, n in enumerate(frames)]
    feats = WhisperStages(lm).preprocess(audio)["input_features"]
    kwargs = {"language": "en", "task": "transcribe"} if lm.multilingual else {}
    out = lm.model.generate(feats, **kwargs)
    return [t.strip() for t in lm.tokenizer.batch_decode(out, skip_special_tokens=True)]


# --- the measured loop ------------------------------------------------------------------------


def count_tokens(lm: LoadedModel, text: str, counter: Callable[[str], int] | None = None) -> int:
    if counter is not None:
        return counter(text)
    if lm.tokenizer is not None and lm.family != CTC:
        return len(lm.tokenizer(text, add_special_tokens=False).input_ids)
    return max(1, round(len(text.split()) * TOKENS_PER_WORD))


def _make_rows(lm: LoadedModel, clips: Sequence[np.ndarray], references: Sequence[str] | None,
               opts: RunOptions) -> _Rows:
    rows = _Rows([], [])
    for i, clip in enumerate(clips):
        pieces = split_long(clip, WHISPER_WINDOW_S) if lm.family != CTC else [clip]
        if lm.weights == "synthetic" and lm.family != CTC:
            total = opts.tokens if opts.tokens else count_tokens(lm, references[i] if references else "",
                                                                  opts.token_counter)
            share = [p.shape[0] / max(1, clip.shape[0]) for p in pieces]
            rows.tokens += [max(1, round(total * s)) for s in share]
        rows.audio += pieces
        rows.owner += [i] * len(pieces)
    return rows


def _batches(n: int, batch_size: int) -> list[range]:
    return [range(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _compile(stages: Any, rows: _Rows, batches: list[range], device: str) -> float:
    """Compile (and capture CUDA graphs) for each batch size of this run not yet compiled; the seconds it took."""
    warm = getattr(stages, "warm", None)  # only compiled stages have it
    todo = {len(b): b for b in batches if warm is not None and len(b) not in warm}
    if not todo:
        return 0.0
    t0 = time.perf_counter()
    for size, batch in todo.items():
        for _ in range(stages.compile_runs):
            _run_batch(stages, rows, batch, None)
        warm.add(size)
    sync(device)
    return time.perf_counter() - t0


def _warm_up(stages: Any, rows: _Rows, batch: range, opts: RunOptions) -> tuple[float, float]:
    """The untimed first batch; FLOPs counted there on the stages' eager twin where the runtime has one."""
    counter = getattr(stages, "flop_stages", stages)
    if opts.count_flops and counter is not None:
        flops = _count_flops(counter, rows, batch)
        if counter is not stages:
            _run_batch(stages, rows, batch, None)
        return flops
    if opts.warmup or opts.count_flops:
        _run_batch(stages, rows, batch, None)
    return math.nan, math.nan


def _forced(rows: _Rows, batch: range) -> int | None:
    return max(rows.tokens[i] for i in batch) if rows.tokens else None


@torch.inference_mode()
def _count_flops(stages: Any, rows: _Rows, batch: range) -> tuple[float, float]:
    """Encoder FLOPs per row and decoder FLOPs per generated token, from one counted batch."""
    inputs = stages.preprocess([rows.audio[i] for i in batch])
    with FlopCounterMode(display=False) as enc_fc:
        enc = stages.encode(inputs)
    with FlopCounterMode(display=False) as dec_fc:
        _, new_tokens = stages.decode(enc, inputs, _forced(rows, batch))
    return enc_fc.get_total_flops() / len(batch), dec_fc.get_total_flops() / max(1, len(batch) * new_tokens)


def transcribe(lm: LoadedModel, clips: Sequence[np.ndarray], references: Sequence[str] | None = None,
               options: RunOptions | None = None, monitor: Any = None) -> Result:
    """Transcribe clips in batches and measure time, energy, memory and FLOPs per stage."""
    from . import meters, metrics
    opts = options or RunOptions()
    if not clips:
        raise ValueError("no clips to transcribe")
    stages = stages_for(lm)
    rows = _make_rows(lm, clips, references, opts)
    batches = _batches(len(rows.audio), opts.batch_size)
    with _DEVICE_LOCKS[lm.device], torch.inference_mode(), _oom_as_resource_error(lm, opts.batch_size):
        compile_s = _compile(stages, rows, batches, lm.device)
        enc_flops, dec_flops = _warm_up(stages, rows, batches[0], opts)
        sync(lm.device)
        if lm.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        own = monitor is None
        monitor = monitor or meters.EnergyMonitor(gpu_index=0 if lm.device == "cuda" else None)
        if own:
            monitor.start()
        monitor.reset_peaks()
        try:
            texts, per_stage, new_tokens, wall = _measured_loop(stages, rows, batches, monitor, lm.device)
        finally:
            if own:
                monitor.stop()
    hyps = _join_rows(texts, rows.owner, len(clips))
    refs = tuple(references) if references else ()
    quality = lm.weights == "pretrained" and bool(refs)
    audio_s = sum(c.shape[0] for c in clips) / SAMPLE_RATE
    run = per_stage.pop("run")
    energy = run[1]
    versions = system.versions()
    return Result(
        model=lm.model_id, family=lm.family, weights=lm.weights, device=lm.device, precision=lm.precision,
        runtime=lm.runtime, batch_size=opts.batch_size, n_clips=len(clips), n_batches=len(batches), audio_s=audio_s,
        bucket=opts.bucket,
        preprocess_s=per_stage["preprocess"][0], encoder_s=per_stage["encoder"][0],
        decoder_s=per_stage["decoder"][0], latency_s=wall, latency_per_batch_s=wall / len(batches),
        latency_per_utt_s=wall / len(clips), rtf=wall / audio_s, throughput_audio_s_per_s=audio_s / wall,
        throughput_utt_per_s=len(clips) / wall, compile_s=compile_s,
        energy_j=energy.energy_j, energy_source=energy.energy_source,
        gpu_energy_j=energy.gpu_energy_j, gpu_energy_source=energy.gpu_source,
        cpu_energy_j=energy.cpu_energy_j, cpu_energy_source=energy.cpu_source,
        preprocess_energy_j=per_stage["preprocess"][1], encoder_energy_j=per_stage["encoder"][1],
        decoder_energy_j=per_stage["decoder"][1],
        energy_per_utt_j=energy.energy_j / len(clips), energy_per_audio_s_j=energy.energy_j / audio_s,
        mean_power_w=energy.energy_j / wall,
        co2e_kg=meters.co2e_kg(energy.energy_j, opts.co2e_country) if opts.co2e_country else math.nan,
        peak_gpu_allocated_bytes=torch.cuda.max_memory_allocated() if lm.device == "cuda" else 0,
        peak_gpu_reserved_bytes=torch.cuda.max_memory_reserved() if lm.device == "cuda" else 0,
        peak_rss_bytes=monitor.peak_rss_bytes,
        encoder_flops_per_clip=enc_flops * len(rows.audio) / len(clips),
        decoder_flops_per_token=dec_flops, total_flops=enc_flops * len(rows.audio) + dec_flops * new_tokens,
        decoder_tokens=new_tokens,
        wer=metrics.wer(refs, hyps) if quality else math.nan,
        cer=metrics.cer(refs, hyps) if quality else math.nan,
        hypotheses=tuple(hyps), references=refs,
        cpu_name=system.cpu_name(), gpu_name=system.gpu_name(lm.device),
        torch_version=versions["torch"], transformers_version=versions["transformers"],
        timestamp=system.now_iso(), notes=_notes(lm, rows, clips, opts, getattr(stages, "note", "")),
        power_trace=tuple((s.t_s, s.source, s.watts) for s in monitor.trace),
    )


def run_plain(lm: LoadedModel, clips: Sequence[np.ndarray], options: RunOptions | None = None,
              references: Sequence[str] | None = None) -> tuple[list[str], float]:
    """The measured loop's work without windows, meters or per-stage syncs: (transcripts, seconds).

    For the instrumentation-overhead benchmark; warm up (and compile) with transcribe first.
    """
    opts = options or RunOptions()
    stages = stages_for(lm)
    rows = _make_rows(lm, clips, references, opts)
    with torch.inference_mode():
        sync(lm.device)
        t0 = time.perf_counter()
        texts = [t for b in _batches(len(rows.audio), opts.batch_size) for t in _run_batch(stages, rows, b, None)[0]]
        sync(lm.device)
        wall = time.perf_counter() - t0
    return _join_rows(texts, rows.owner, len(clips)), wall


def _run_batch(stages: Any, rows: _Rows, batch: range, window: Callable[[str], Any] | None) -> tuple[list[str], int]:
    """One batch through the three stages; window(name) wraps each stage when measuring."""
    def stage(name: str, fn: Callable[[], Any]) -> Any:
        if window is None:
            return fn()
        with window(name):
            return fn()
    inputs = stage("preprocess", lambda: stages.preprocess([rows.audio[i] for i in batch]))
    enc = stage("encoder", lambda: stages.encode(inputs))
    return stage("decoder", lambda: stages.decode(enc, inputs, _forced(rows, batch)))


class _StageWindows:
    """window(name) for _run_batch: one energy window per stage, synchronised at its end, summed per stage."""

    def __init__(self, monitor: Any, device: str):
        self.monitor, self.device = monitor, device
        self.totals: dict[str, list[float]] = {s: [0.0, 0.0] for s in STAGES}  # stage -> [seconds, joules]

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.monitor.begin_window(name)
        yield
        sync(self.device)
        m = self.monitor.end_window(name)
        self.totals[name][0] += m.time_s
        self.totals[name][1] += m.energy_j


def _measured_loop(stages: Any, rows: _Rows, batches: list[range], monitor: Any, device: str):
    windows = _StageWindows(monitor, device)
    texts: list[str] = []
    new_tokens = 0
    monitor.begin_window("run")
    t0 = time.perf_counter()
    for batch in batches:
        batch_texts, n = _run_batch(stages, rows, batch, windows)
        texts += batch_texts
        new_tokens += n * len(batch)
    sync(device)
    wall = time.perf_counter() - t0
    run = monitor.end_window("run")
    per_stage: dict[str, Any] = {k: tuple(v) for k, v in windows.totals.items()}
    per_stage["run"] = (wall, run)
    return texts, per_stage, new_tokens, wall


def _join_rows(texts: list[str], owner: list[int], n: int) -> list[str]:
    joined: list[list[str]] = [[] for _ in range(n)]
    for text, i in zip(texts, owner):
        if text:
            joined[i].append(text)
    return [" ".join(parts) for parts in joined]


def _notes(lm: LoadedModel, rows: _Rows, clips: Sequence[np.ndarray], opts: RunOptions, runtime_note: str = "") -> str:
    notes = [f"runtime {lm.runtime}: {runtime_note}"] if runtime_note else []
    if len(rows.audio) > len(clips):
        notes.append(f"long-form: {len(clips)} clips cut into {len(rows.audio)} windows of <= 30 s at quiet points")
    if lm.weights == "synthetic":
        notes.append("weights=synthetic: random weights, decoder forced to the reference's token count; no WER")
        if lm.family != CTC and not opts.tokens and opts.token_counter is None and lm.tokenizer is None:
            notes.append(f"token count estimated as {TOKENS_PER_WORD} x reference words")
    return "; ".join(notes)


class _oom_as_resource_error:
    """Turn out-of-memory into a ResourceError with advice, and free what the failed batch held."""

    def __init__(self, lm: LoadedModel, batch_size: int):
        self.lm, self.batch_size = lm, batch_size

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        oom = isinstance(exc, torch.OutOfMemoryError) or isinstance(exc, MemoryError) or (
            isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())
        if not oom:
            return False
        if self.lm.device == "cuda":
            torch.cuda.empty_cache()
        raise ResourceError(f"Out of {'GPU ' if self.lm.device == 'cuda' else ''}memory running "
                            f"{self.lm.model_id} at batch size {self.batch_size}: try a smaller --batch-size "
                            f"or precision fp16.") from None
