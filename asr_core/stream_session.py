"""A live captioning session, measured while it runs, and its frozen record.

``LiveSession`` feeds audio as it arrives (from a microphone, or a file played in real time) to the streaming
policy (``streaming.StreamingTranscriber``), decodes in a worker thread whenever a step's worth is waiting,
and holds one energy window (``energy.EnergyMonitor``) over the whole session, its power trace beside it.
``stop`` returns a ``SessionRecord``; ``with_offline`` adds the same audio transcribed by the measured path
(``runs.measure``) for comparison. ``outlook`` says before a session whether a model keeps up, from
one decode's time (``probe`` on this machine, or the precomputed sweep's latency).

``decoder_for`` is the one call into the runtimes: change it, and only it, when the runtimes change shape.

Busy share is seconds spent decoding over wall seconds: 1.0 means the model never rests and falls behind.
Energy covers the whole session, idle waits included (what keeping a live captioner running costs); on a CPU
without readable RAPL counters it is an estimate (this process's CPU time x an assumed package power: the
web server and the audio transport count too) and stays labelled so.
"""
from __future__ import annotations

import contextvars
import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import runs, scoring
from .audio import SAMPLE_RATE
from .energy import EnergyMonitor
from .energy_sources import UNAVAILABLE
from .errors import ModelError
from .locks import device_lock
from .runtimes import LoadedModel
from .uninstrumented import time_uninstrumented
from .streaming import Clock, Decode, StreamingTranscriber, StreamOptions, StreamState

KEEP_S = 20 * 60.0  # audio kept for the offline comparison: 20 minutes (77 MB)
POWER_WINDOW_S = 2.0  # "power now" is the mean of the samples of the last two seconds
BEHIND_SHARE = 0.9  # busy share above this: the model barely keeps up
KEEPS_UP_SHARE = 0.5  # expected busy share at or below this: it keeps up with room to spare
SKIPS_AFTER_S = 5.0  # one decode slower than this: the buffer outgrows its limit and audio is skipped
WORKER_POLL_S = 0.05
SYNTHETIC = "Live captions need trained weights: synthetic weights write no words. Choose pretrained weights."


def decoder_for(model: LoadedModel) -> Decode:
    """The one call into our runtimes: a loaded model's stages on one buffer (the measured loop's work without
    its warm-up, FLOP counting or energy windows), under the device's lock so that no measured run elsewhere
    shares the device with a decode."""
    if model.weights == "synthetic":
        raise ModelError(SYNTHETIC)

    def decode(audio: np.ndarray) -> str:
        with device_lock(model.device):
            texts, _ = time_uninstrumented(model, [audio])
        return texts[0]
    return decode


@dataclass(frozen=True)
class LiveView:
    """What the page shows while listening: the captions, how the model keeps up, and the power now."""

    stream: StreamState
    power_w: float  # mean over the last POWER_WINDOW_S; nan before the first sample
    power_source: str  # "rapl", "estimate", "nvml_counter"…: where power_w came from
    error: str = ""  # the worker's failure, in one sentence

    @property
    def behind(self) -> bool:
        """Whether the model is not keeping up: busy nearly all the time, or audio skipped."""
        return self.stream.skipped_s > 0 or self.stream.busy_share > BEHIND_SHARE


@dataclass(frozen=True)
class SessionRecord:
    """One finished live session: what was said and shown, how far behind, what it cost; and, once
    with_offline ran, the same audio transcribed offline by the measured path."""

    model: str
    runtime: str
    precision: str
    device: str
    step_s: float
    speech_s: float  # audio streamed, pauses included
    words: int
    lag_median_s: float  # shown minus heard (a lower bound, by at most step_s)
    lag_p90_s: float
    busy_share: float
    busy_s: float
    wall_s: float
    decodes: int
    skipped_s: float  # audio dropped unheard because the model fell behind
    silence_s: float  # silent audio not sent to the model
    energy_j: float
    energy_source: str
    mean_power_w: float
    energy_per_audio_hour_wh: float
    text: str
    reference: str = ""
    wer: float = math.nan  # streamed text against the reference
    kept_s: float = 0.0  # audio kept for the offline comparison (KEEP_S at most)
    offline_text: str = ""
    offline_wer: float = math.nan
    offline_latency_s: float = math.nan
    offline_energy_j: float = math.nan
    offline_energy_source: str = UNAVAILABLE
    differs_from_offline: float = math.nan  # word error rate of the streamed text, the offline one as reference


class LiveSession:
    """The policy fed in real time, decoding in a worker thread, one energy window over the session.

    decode: from ``decoder_for``. gpu_index: the GPU to meter (None on CPU). monitor: an EnergyMonitor to use
    instead of a new one (tests pass one with fake meters). context: the contextvars the worker runs in (the
    caller's by default: the app's RUN_OWNER names this session to another one waiting for the device).
    """

    def __init__(self, decode: Decode, options: StreamOptions | None = None, *, gpu_index: int | None = None,
                 monitor: EnergyMonitor | None = None, clock: Clock = time.perf_counter, keep_s: float = KEEP_S,
                 context: contextvars.Context | None = None):
        self.transcriber = StreamingTranscriber(decode, options, clock)
        self.monitor = monitor or EnergyMonitor(gpu_index=gpu_index, clock=clock)
        self._kept: list[np.ndarray] = []
        self._kept_n, self._keep_n = 0, round(keep_s * SAMPLE_RATE)
        self._stop, self._wake = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self._context = context or contextvars.copy_context()
        self._thread = threading.Thread(target=self._context.run, args=(self._work,), name="LiveSession", daemon=True)
        self.record: SessionRecord | None = None

    def start(self) -> LiveSession:
        self.monitor.start()
        self.monitor.begin_window("session")
        self._thread.start()
        return self

    def feed(self, audio: np.ndarray, at: float | None = None) -> None:
        """Audio as it arrives (16 kHz mono float32), from any thread."""
        chunk = np.asarray(audio, dtype=np.float32).reshape(-1)
        room = self._keep_n - self._kept_n
        if room > 0:
            self._kept.append(chunk[:room])
            self._kept_n += min(room, chunk.shape[0])
        self.transcriber.feed(chunk, at)
        self._wake.set()

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(WORKER_POLL_S)
                self._wake.clear()
                if self.transcriber.ready():
                    self.transcriber.step()
        except Exception as exc:  # noqa: BLE001 - shown on the page, and raised again by stop()
            self.error = exc

    @property
    def audio(self) -> np.ndarray:
        """The audio kept so far (KEEP_S at most)."""
        return np.concatenate(self._kept) if self._kept else np.zeros(0, dtype=np.float32)

    def view(self) -> LiveView:
        now = self.monitor.trace_time()
        watts: dict[str, list[float]] = {}
        for sample in reversed(self.monitor.trace):
            if sample.t_s < now - POWER_WINDOW_S:
                break
            watts.setdefault(sample.source, []).append(sample.watts)
        power = sum(float(np.mean(w)) for w in watts.values()) if watts else math.nan  # GPU + CPU
        source = "+".join(self.monitor.sources[meter] for meter in sorted(watts)) or UNAVAILABLE
        return LiveView(self.transcriber.state(), power, source, str(self.error) if self.error else "")

    def stop(self, model: LoadedModel | None = None) -> SessionRecord:
        """Stop listening: the worker ends, the last audio is decoded and confirmed, the energy window closes.

        model: named in the record (model, runtime, precision, device). Raises the worker's error, if any.
        """
        self._stop.set()
        self._thread.join()
        try:
            if self.error is None:
                self.transcriber.finish()
        finally:
            window = self.monitor.end_window("session")
            self.monitor.stop()
        if self.error is not None:
            raise self.error
        state = self.transcriber.state()
        speech_s = max(state.audio_s, 1e-9)
        self.record = SessionRecord(
            model=model.model_id if model else "", runtime=model.runtime if model else "",
            precision=model.precision if model else "", device=model.device if model else "",
            step_s=self.transcriber.options.step_s, speech_s=state.audio_s, words=state.words,
            lag_median_s=state.lag_median_s, lag_p90_s=state.lag_p90_s, busy_share=state.busy_share,
            busy_s=state.busy_s, wall_s=state.wall_s, decodes=state.decodes, skipped_s=state.skipped_s,
            silence_s=state.silence_s, energy_j=window.energy_j, energy_source=window.energy_source,
            mean_power_w=window.mean_power_w, energy_per_audio_hour_wh=window.energy_j / speech_s,  # J/s = Wh/h
            text=state.confirmed, kept_s=self._kept_n / SAMPLE_RATE)
        return self.record


def with_offline(record: SessionRecord, model: LoadedModel, audio: np.ndarray, reference: str = "") -> SessionRecord:
    """The record with the same audio transcribed offline by the measured path (no warm-up: the model is warm;
    no FLOPs), scored against the reference when one is given."""
    if audio.size:
        request = runs.Request(model=model.model_id, runtime=model.runtime, precision=model.precision,
                               device=model.device, weights=model.weights, clips=(audio,), warmup=False,
                               count_flops=False)
        result = runs.measure(request, model)  # under the device's lock, as every measured run
        offline = result.hypotheses[0]
        record = dataclasses.replace(
            record, offline_text=offline, offline_latency_s=result.latency_s, offline_energy_j=result.energy_j,
            offline_energy_source=result.energy_source,
            differs_from_offline=scoring.wer([offline], [record.text]) if offline.strip() else math.nan)
    return scored(record, reference)


def scored(record: SessionRecord, reference: str) -> SessionRecord:
    """The record's streamed and offline WERs against reference (nan without one)."""
    ref = reference.strip()
    offline = scoring.wer([ref], [record.offline_text]) if ref and record.offline_text else math.nan
    return dataclasses.replace(record, reference=ref, wer=scoring.wer([ref], [record.text]) if ref else math.nan,
                               offline_wer=offline)


# --- honest limits: will it keep up? -------------------------------------------------------------


@dataclass(frozen=True)
class Outlook:
    """What one decode's time says about a session before it starts."""

    decode_s: float  # one decode of a buffer of about trim_s seconds
    busy_share: float  # expected: decode_s / step_s, at most 1
    lag_s: float  # expected lag: a step's wait (or a decode, if longer) plus a decode
    verdict: str  # KEEPS_UP, BARELY, BEHIND or SKIPS
    sentence: str


KEEPS_UP, BARELY, BEHIND, SKIPS = "keeps up", "keeps up, barely", "falls behind", "cannot keep up"


def outlook(decode_s: float, options: StreamOptions | None = None, where: str = "") -> Outlook:
    """Whether a model whose decode of a buffer takes decode_s keeps up with speech (where: how decode_s was
    obtained, said in the sentence)."""
    opts = options or StreamOptions()
    step = opts.step_s
    busy, lag = min(1.0, decode_s / step), max(step, decode_s) + decode_s
    if decode_s <= KEEPS_UP_SHARE * step:
        verdict, then = KEEPS_UP, f"busy about {busy:.0%} of the time, captions about {lag:.1f} s behind speech"
    elif decode_s <= step:
        verdict, then = BARELY, f"busy {busy:.0%} of the time: little to spare, captions about {lag:.1f} s behind"
    elif decode_s <= SKIPS_AFTER_S:
        verdict, then = BEHIND, (f"busy all the time: captions come every {decode_s:.1f} s instead of every "
                                 f"{step:g} s, about {lag:.1f} s behind speech")
    else:
        verdict, then = SKIPS, (f"captions would lag over {lag:.0f} s and audio beyond the {opts.max_buffer_s:g} s "
                                f"buffer would be skipped: choose a smaller model or a faster runtime")
    source = f" ({where})" if where else ""
    return Outlook(decode_s, busy, lag, verdict, f"One decode takes about {decode_s:.2f} s{source}: it {verdict}; "
                                                   f"{then}.")


def probe(decode: Decode, audio: np.ndarray, clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds one decode of audio takes here, after one untimed decode (which also warms the model up)."""
    decode(audio)
    t0 = clock()
    decode(audio)
    return clock() - t0
