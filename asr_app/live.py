"""Live runs for the app: what this machine can run, the configurations to run (each row a model with its
own settings, named by what differs), their transcriptions in a worker thread with a live power queue,
repeated if asked, and the session's runs as a table. What a finished run shows is ``figures``'s job.

Concurrency: two browser sessions may press Run at the same time. Measurements stay apart because
``runs.measure`` holds the per-device lock (``locks.device_lock``) around its warm-up and measured
windows, and model loading here takes the same lock, so one session's run never shares its device
with another's measured windows. Each run has its own ``EnergyMonitor``.
"""
from __future__ import annotations

import contextvars
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from asr_core import noise, runs, sweep_table
from asr_core.audio import duration_s
from asr_core.buckets import bucket_of
from asr_core.capabilities import precision_problem, runtime_problem
from asr_core.checkpoints import pretrained_problem
from asr_core.energy import EnergyMonitor
from asr_core.errors import USER_ERRORS, ModelError
from asr_core.locks import RUN_OWNER, device_lock
from asr_core.measure import MEASURING, TOKENS_PER_WORD, Cancelled, Progress, RunControl
from asr_core.models import (COMPILED, CTRANSLATE2, OPENAI_WHISPER, PRECISIONS, QUANTIZED, RUNTIMES, RUNTIME_PRECISIONS,
                             TRANSFORMERS, WHISPER_CPP, batch_problem, family_of)
from asr_core.results import RESULT_FIELDS, STATUS_CANCELLED, STATUS_OK, Result
from asr_core.runtimes import LoadedModel
from asr_core.sampler import PowerSample

from . import present
from .inputs import model_label

APP_DEVICES = ("cpu", "cuda")
BATCH_SIZES = (1, 4, 8, 16, 32)
MAX_REPEATS = 10  # a repeated run: each configuration measured this many times at most
POLL_INTERVAL_S = 0.25  # the live chart redraws about four times a second
CANCEL_WAIT_S = 60.0  # a stopped run ends at its next batch boundary; wait at most this long for it
WORDS_PER_S = 2.5  # conversational speech, ~150 words a minute: decoder length without a reference
NO_GPU = "no CUDA GPU found"
log = logging.getLogger(__name__)
# runs_table column -> the header the page shows
DISPLAY_COLUMNS = {"clip": "clip", "model": "model", "weights": "weights", "device": "device",
                   "runtime": "runtime", "precision": "precision", "batch_size": "batch", "status": "status",
                   "audio_s": "audio (s)",
                   "latency_s": "latency (s)", "rtf": "RTF", "wer_pct": "WER (%)", "energy_j": "energy (J)",
                   "energy_per_audio_s_j": "J per audio s", "energy_source": "energy source",
                   "peak_memory_mib": "peak memory (MiB)", "total_gflops": "GFLOPs",
                   "compile_s": "compile (s, not in latency)", "error": "error"}
# runtime -> what it is, in a few words for the page
RUNTIME_CAPTIONS = {TRANSFORMERS: "eager generate: what most users run",
                    COMPILED: "static KV cache + torch.compile; the first run compiles",
                    CTRANSLATE2: "CTranslate2 engine (faster-whisper's); Whisper only",
                    OPENAI_WHISPER: "OpenAI's own whisper package; Whisper only",
                    WHISPER_CPP: "whisper.cpp (ggml) on the CPU, one clip at a time; Whisper only"}
# RunRequest field -> how a configuration's label names it, when the compared rows differ in it
SETTING_TEXT = {"weights": str, "device": str, "precision": str, "runtime": str, "batch_size": lambda b: f"batch {b}"}


# --- what this machine can run -------------------------------------------------------------------

def device_problems() -> dict[str, str | None]:
    """Device -> why it cannot be used here (None when it can)."""
    return {"cpu": None, "cuda": None if torch.cuda.is_available() else NO_GPU}


def precision_problems(device: str, runtime: str = TRANSFORMERS) -> dict[str, str | None]:
    """Precision -> why it cannot run on device with runtime (None when it can)."""
    unusable = device_problems().get(device)
    return {p: unusable or precision_problem(device, p, runtime) for p in PRECISIONS}


def precision_captions(device: str, runtime: str = TRANSFORMERS) -> list[str]:
    """A caption under each precision: 'available', a quantised format of another runtime in a few words, or why not."""
    allowed = RUNTIME_PRECISIONS.get(runtime)

    def caption(p: str, why: str | None) -> str:
        owner = QUANTIZED.get(p)
        if why is None:
            return "available"
        if owner not in (None, runtime):
            return f"{owner} runtime only"
        if allowed is not None and p not in allowed:  # the whole reason is on the Run button's message
            return f"{runtime} runs {', '.join(allowed)} only"
        return why
    return [caption(p, why) for p, why in precision_problems(device, runtime).items()]


def runtime_problems(models: Sequence[str]) -> dict[str, str | None]:
    """Runtime -> why it cannot run one of the chosen models (None when it can run them all)."""
    def problem(runtime: str) -> str | None:
        for m in models:
            try:
                why = runtime_problem(family_of(m), runtime)
            except ModelError:  # an unknown model is reported when it runs
                continue
            if why:
                return f"{model_label(m)}: {why}"
        return None
    return {r: problem(r) for r in RUNTIMES}


def default_device() -> str:
    return "cuda" if device_problems()["cuda"] is None else "cpu"


@dataclass(frozen=True)
class RunRequest:
    """One configuration to run: a model with its own weights, device, precision, batch size and runtime."""

    model_id: str
    device: str
    precision: str
    weights: str
    batch_size: int = 1
    runtime: str = TRANSFORMERS

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What a loaded model is cached by (load_model's arguments)."""
        return self.model_id, self.device, self.precision, self.weights, self.runtime

    @property
    def settings(self) -> str:
        """'pretrained weights · cpu fp32 · transformers · batch 1'."""
        return f"{self.weights} weights · {self.device} {self.precision} · {self.runtime} · batch {self.batch_size}"


def config_of(r: Result) -> RunRequest:
    """The configuration a result was measured with."""
    return RunRequest(r.model, r.device, r.precision, r.weights, r.batch_size, r.runtime)


def config_labels(configs: Sequence[RunRequest]) -> list[str]:
    """Each configuration named by its model and the settings in which the configurations differ:
    'whisper-tiny.en (local) · int8' beside '… · fp32'; only the model's name when only models differ.
    A configuration listed twice gets a number."""
    varying = [f for f in SETTING_TEXT if len({getattr(c, f) for c in configs}) > 1]
    labels = [" · ".join([model_label(c.model_id), *(SETTING_TEXT[f](getattr(c, f)) for f in varying)])
              for c in configs]
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[i] = f"{label} ({seen[label]})"
    return labels


def result_labels(results: Sequence[Result]) -> dict[RunRequest, str]:
    """Configuration -> its label (config_labels) over the configurations of these results, in order."""
    configs = list(dict.fromkeys(config_of(r) for r in results))
    return dict(zip(configs, config_labels(configs)))


def run_problems(models: Sequence[str], device: str, precision: str, runtime: str = TRANSFORMERS,
                 batch_size: int = 1) -> list[str]:
    """Reasons the Run button must stay disabled; empty when it can run."""
    problems = []
    if not models:
        problems.append("choose at least one model")
    if device_problems().get(device):
        problems.append(f"{device}: {device_problems()[device]}")
    elif why := precision_problems(device, runtime).get(precision):
        problems.append(f"{precision} on {device} with {runtime}: {why}" if runtime != TRANSFORMERS
                        else f"{precision} on {device}: {why}")
    if why := runtime_problems(models).get(runtime):
        problems.append(f"runtime {runtime}: {why}")
    if why := batch_problem(runtime, batch_size):
        problems.append(f"batch {batch_size} with {runtime}: {why}")
    return problems


def rows_problems(rows: Sequence[RunRequest]) -> list[str]:
    """run_problems of each compared row, each named by the row's label."""
    return [f"{label}: {why}" for row, label in zip(rows, config_labels(rows))
            for why in run_problems([row.model_id], row.device, row.precision, row.runtime, row.batch_size)]


def weights_warnings(models: Sequence[str], weights: str,
                     check: Callable[[str], str | None] = pretrained_problem) -> list[str]:
    """Why pretrained weights of some models cannot be had here (checked before a long hub timeout)."""
    if weights != "pretrained":
        return []
    return [weights_unavailable(problem) for m in models if (problem := check(m))]


def weights_unavailable(problem: str) -> str:
    """The one sentence for pretrained weights this machine cannot have, and what to do instead."""
    return (f"Pretrained weights unavailable: {problem}. Use synthetic weights (timing only), a local checkpoint "
            f"folder, or run `asr-profile prefetch` on a machine with network first.")


# --- inputs ------------------------------------------------------------------------------------

def clip_request(req: RunRequest, audio: np.ndarray, reference: str, snr_db: float = math.inf) -> runs.Request:
    """The run a configuration asks for on the page's clip: its reference (none when empty), white noise at snr_db
    mixed in by the run (as the page's player mixes it: with_noise), its length's bucket, and for synthetic
    Whisper without a reference a forced length from a speaking rate."""
    text = reference.strip() if reference else ""
    return runs.Request(model=req.model_id, runtime=req.runtime, precision=req.precision, device=req.device,
                        weights=req.weights, batch_size=req.batch_size, clips=(audio,),
                        references=(text,) if text else None, snr_db=snr_db, noise=noise.WHITE,
                        bucket=bucket_of(duration_s(audio)), tokens=synthetic_tokens(reference, audio))


def synthetic_tokens(reference: str, audio: np.ndarray) -> int | None:
    """Decoder length to force for synthetic Whisper without a reference: a typical speaking rate."""
    if reference and reference.strip():
        return None
    return max(1, round(duration_s(audio) * WORDS_PER_S * TOKENS_PER_WORD))


# --- the live run ------------------------------------------------------------------------------

class LiveRun:
    """runs.measure in a worker thread; its power samples arrive on a queue the page drains.

    ``cancel()`` stops it at the next batch boundary (the result then covers the batches that finished).
    The worker runs in a copy of the caller's context, so it measures under the caller's ``RUN_OWNER``.
    """

    def __init__(self, model: LoadedModel, request: runs.Request):
        self.stop = threading.Event()
        self.control = RunControl(stop=self.stop, on_progress=self._on_progress)
        self.model, self.request = model, request
        self.progress: Progress | None = None  # the latest, as measure.transcribe reported it
        self.measured_from_s = math.nan  # where the timed run started on the trace's clock (before: warm-up)
        self._monitor: EnergyMonitor | None = None
        self.samples: queue.Queue[PowerSample] = queue.Queue()
        self.trace: list[PowerSample] = []
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.sources: dict[str, str] = {}  # meter -> energy source, known once the monitor is open
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._work,), name="LiveRun",
                                        daemon=True)

    def start(self) -> LiveRun:
        self._thread.start()
        return self

    def cancel(self, wait_s: float = CANCEL_WAIT_S) -> None:
        """Stop at the next batch boundary and wait (bounded) for the worker to let go of the device."""
        self.stop.set()
        self._thread.join(wait_s)

    def _work(self) -> None:
        gpu_index = 0 if self.model.device == "cuda" else None
        try:
            with EnergyMonitor(gpu_index=gpu_index, on_sample=self.samples.put) as monitor:
                self.sources, self._monitor = monitor.sources, monitor
                # the run takes the device's lock itself: a second session's run on this device waits
                # there rather than overlapping this one's measured windows.
                self.result = runs.measure(self.request, self.model, self.control, monitor)
        except BaseException as exc:  # noqa: BLE001 - handed to the page thread by outcome()
            self.error = exc

    def _on_progress(self, progress: Progress) -> None:
        """Called in the worker: keep the latest progress; note when the measured batches begin."""
        if progress.phase == MEASURING and math.isnan(self.measured_from_s) and self._monitor is not None:
            self.measured_from_s = self._monitor.trace_time()
        self.progress = progress

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def drain(self) -> list[PowerSample]:
        """Samples that arrived since the last drain (also appended to self.trace)."""
        new = []
        while True:
            try:
                new.append(self.samples.get_nowait())
            except queue.Empty:
                break
        self.trace += new
        return new

    def updates(self, interval_s: float = POLL_INTERVAL_S) -> Iterator[list[PowerSample]]:
        """The trace so far, every interval_s while the worker runs, and once more at the end."""
        while not self.done:
            time.sleep(interval_s)
            self.drain()
            yield list(self.trace)
        self._thread.join()
        self.drain()
        yield list(self.trace)

    def outcome(self) -> Result:
        """The result, or the worker's exception raised here."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class SessionGuard:
    """One live run per browser session at a time, across script runs, and a hand-over of its results.

    Stop or a second Run makes Streamlit start a new script run before the stopped one has finished (its
    model stops at the next batch boundary), and the stopped run can no longer write session state:
    it ``keep``s what finished here, and the new run ``wait``s for it, then ``take``s the results.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: list[tuple[str, list[Result]]] = []

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def wait(self, timeout_s: float = CANCEL_WAIT_S) -> bool:
        """Until no run of this session is going (False when timeout_s passed first)."""
        if not self._lock.acquire(timeout=timeout_s):
            return False
        self._lock.release()
        return True

    def keep(self, clip: str, results: list[Result]) -> None:
        self._kept.append((clip, list(results)))

    def take(self) -> list[tuple[str, list[Result]]]:
        """The results kept since the last take, oldest first."""
        kept, self._kept = self._kept, []
        return kept

    def __enter__(self) -> SessionGuard:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


@dataclass(frozen=True)
class RunEvent:
    """One step of run_models: 'waiting' (for another run on the device), 'loading', 'power' (trace so far),
    'done' (result, possibly a stopped run's partial one) or 'error'.

    Traces, sources and spans are keyed by the configuration's label (config_labels)."""

    kind: str
    request: RunRequest
    traces: dict[str, list[PowerSample]] = field(default_factory=dict)
    result: Result | None = None
    sources: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> meter -> energy source
    waiting_for: str = ""  # who holds the device, and since when, while this run waits
    progress: Progress | None = None  # where the running model is ('power' events)
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)  # label -> measured span on its trace
    label: str = ""  # the configuration's label
    repeat: int = 1  # which repetition of the configuration this is (1-based) …
    repeats: int = 1  # … of how many

    @property
    def name(self) -> str:
        """The label, with the repetition when a run is repeated: 'tiny.en (run 2 of 3)'."""
        return self.label + (f" (run {self.repeat} of {self.repeats})" if self.repeats > 1 else "")


def waiting_for(device: str) -> str:
    """Who else is measuring on device and since when ('' when it is free or ours)."""
    lock = device_lock(device)
    holder, since = lock.holder, lock.since
    if not lock.locked() or not holder or holder == RUN_OWNER.get():
        return ""
    return f"{holder} (since {time.strftime('%H:%M:%S', time.localtime(since))})"


def load_exclusive(loader: Callable[..., object], request: RunRequest) -> object:
    """loader(*request.key) under the device lock, so loading never overlaps a measured run."""
    if request.weights == "pretrained" and (problem := pretrained_problem(request.model_id)):
        raise ModelError(weights_unavailable(problem))
    with device_lock(request.device):
        return loader(*request.key)


def noise_label(snr_db: float) -> str:
    return "clean" if not math.isfinite(snr_db) else f"{snr_db:g} dB"


def with_noise(audio: np.ndarray, snr_db: float) -> np.ndarray:
    """The clip as a run hears it: white noise at snr_db mixed in as runs.prepare mixes it (seeded, so the class
    hears the same noise every time, and the run measures what the class heard); inf: as is."""
    return runs.mixed([audio], snr_db, noise.WHITE)[0]


def run_models(requests: Sequence[RunRequest], audio: np.ndarray, reference: str,
               loader: Callable[..., object], interval_s: float = POLL_INTERVAL_S,
               finished: list[Result] | None = None, snr_db: float = math.inf, repeats: int = 1) -> Iterator[RunEvent]:
    """Run each request (its own model and settings) on the clip, repeats times in turn; a failed run becomes a
    failed Result, the rest go on.

    audio is the clean clip: each run mixes white noise at snr_db into it (what with_noise plays), and every
    result records that noise. Every final result is also appended to ``finished``. Closing the generator (the page's script stopped:
    Stop, a second Run, a closed tab) cancels the model running at its next batch boundary, and its partial
    result, marked cancelled, still lands in ``finished``.
    """
    finished = finished if finished is not None else []
    traces: dict[str, list[PowerSample]] = {}
    sources: dict[str, dict[str, str]] = {}
    spans: dict[str, tuple[float, float]] = {}
    labels = config_labels(requests)
    for req, label in zip(requests, labels):
        request = clip_request(req, audio, reference, snr_db)
        for repeat in range(1, repeats + 1):
            def event(kind: str, **kw) -> RunEvent:
                return RunEvent(kind, req, dict(traces), sources=dict(sources), spans=dict(spans), label=label,
                                repeat=repeat, repeats=repeats, **kw)
            while who := waiting_for(req.device):
                yield event("waiting", waiting_for=who)
                time.sleep(interval_s)
            yield event("loading")
            spans.pop(label, None)  # a repetition draws its own trace
            run: LiveRun | None = None
            try:
                run = LiveRun(load_exclusive(loader, req), request).start()
                for trace in run.updates(interval_s):
                    traces[label], sources[label] = trace, run.sources
                    if not math.isnan(run.measured_from_s):
                        spans[label] = (run.measured_from_s, math.nan)
                    yield event("power", waiting_for=waiting_for(req.device), progress=run.progress)
                result = run.outcome()
                spans[label] = (result.measured_from_s, result.measured_to_s)
            except GeneratorExit:  # the page stopped: stop the model at its next batch, keep what it finished
                if run is not None:
                    run.cancel()
                    if run.result is not None:
                        finished.append(run.result)
                    elif isinstance(run.error, Cancelled):  # stopped before a clip finished: say so, keep the row
                        finished.append(_failed(request, run.error))
                raise
            except (*USER_ERRORS, Cancelled) as exc:  # the run becomes a failed result with the message; the rest go on
                result = _failed(request, exc)
            except Exception as exc:  # noqa: BLE001 - a bug in one model's run must not throw away the others'
                log.exception("run of %s failed", req.model_id)
                result = _failed(request, RuntimeError(f"unexpected error ({type(exc).__name__}): {exc}"))
            finished.append(result)
            yield event("done" if result.status in (STATUS_OK, STATUS_CANCELLED) else "error", result=result)
            if result.status not in (STATUS_OK, STATUS_CANCELLED):
                break  # a configuration that failed fails again: do not repeat it


def _failed(request: runs.Request, exc: BaseException) -> Result:
    """runs.failed, a stopped run's message naming a local model by its folder (the page never shows a path)."""
    status = runs.status_of(exc)
    message = str(exc).replace(request.model, model_label(request.model)) if status == STATUS_CANCELLED else str(exc)
    return runs.failed(request, message, status)


# --- the power traces of finished runs ---------------------------------------------------------

def spans_of(results: Sequence[Result]) -> dict[str, tuple[float, float]]:
    """Each finished result's measured span on its power trace (the samples before it are the warm-up), by
    configuration label; of a repeated configuration, the last run's."""
    labels = result_labels(results)
    return {labels[config_of(r)]: (r.measured_from_s, r.measured_to_s) for r in results
            if r.power_trace and not math.isnan(r.measured_from_s)}


def traces_of(results: Sequence[Result]) -> tuple[dict[str, list[PowerSample]], dict[str, dict[str, str]]]:
    """The power traces kept in finished results, and each one's meter sources, for the power chart, by
    configuration label (of a repeated configuration, the last run's)."""
    labels = result_labels(results)
    traces = {labels[config_of(r)]: list(r.power_trace) for r in results if r.power_trace}
    sources = {labels[config_of(r)]: {"gpu": r.gpu_energy_source, "cpu": r.cpu_energy_source} for r in results}
    return traces, sources


# --- the session's runs ------------------------------------------------------------------------

def runs_table(runs: Sequence[tuple[str, Result]]) -> pd.DataFrame:
    """(clip label, result) pairs as one row each, every result field plus clip and peak memory."""
    rows = []
    for clip, r in runs:
        row = r.to_dict()
        row["hypotheses"] = " | ".join(r.hypotheses)
        row["references"] = " | ".join(r.references)
        row["peak_memory_bytes"] = sweep_table.peak_memory_bytes(r.device, r.peak_gpu_reserved_bytes, r.peak_rss_bytes)
        rows.append({"clip": clip, **row})
    return pd.DataFrame(rows, columns=["clip", *RESULT_FIELDS, "peak_memory_bytes"])


def runs_csv(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode("utf-8")


def display_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The session table with readable units and headers (energy always beside its source)."""
    shown = table.assign(wer_pct=table["wer"] * 100, peak_memory_mib=table["peak_memory_bytes"] / present.MIB,
                         total_gflops=table["total_flops"] / 1e9,
                         model=[model_label(m) for m in table["model"]])
    return shown[list(DISPLAY_COLUMNS)].rename(columns=DISPLAY_COLUMNS)


def run_stages(results: Sequence[Result]) -> pd.DataFrame:
    """Seconds per stage of each finished run (the whole batch), labelled by configuration: sweep_table.stage_seconds."""
    ok = [r for r in results if r.status == STATUS_OK]
    labels = result_labels(ok)
    table = runs_table([("", r) for r in ok])
    named = len({r.batch_size for r in ok}) > 1  # the labels name the batch size where it differs; else add it
    table["label"] = [labels[config_of(r)] + ("" if named else f" · batch {r.batch_size}") for r in ok]
    return sweep_table.stage_seconds(table, label="label", per_utterance=False)
