"""Live runs for the app: each configuration (``configs.RunRequest``) on the page's clip through the library's one
run path (``asr_core.runs``) in a worker thread, its power samples on a queue the page drains, repeated if asked,
as a stream of events; a session's runs one at a time, what a stopped run finished handed to the next script
run. What a finished run shows is ``figures``'s job; the session's finished runs are ``history``'s.

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

from asr_core import noise, runs
from asr_core.audio import duration_s
from asr_core.buckets import bucket_of
from asr_core.checkpoints import pretrained_problem
from asr_core.energy import EnergyMonitor
from asr_core.errors import USER_ERRORS, ModelError
from asr_core.locks import RUN_OWNER, device_lock
from asr_core.measure import MEASURING, TOKENS_PER_WORD, Cancelled, Progress, RunControl
from asr_core.results import STATUS_CANCELLED, STATUS_OK, Result
from asr_core.runtimes import LoadedModel
from asr_core.sampler import PowerSample

from .choices import weights_warnings
from .configs import RunRequest, config_labels
from .inputs import model_label

POLL_INTERVAL_S = 0.25  # the live chart redraws about four times a second
CANCEL_WAIT_S = 60.0  # a stopped run ends at its next batch boundary; wait at most this long for it
WORDS_PER_S = 2.5  # conversational speech, ~150 words a minute: decoder length without a reference
log = logging.getLogger(__name__)


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
    defer_flops: FLOPs the cache lacks are left to ``flop_job`` (count them after the result is shown).
    """

    def __init__(self, model: LoadedModel, request: runs.Request, defer_flops: bool = False):
        self.stop = threading.Event()
        self.flop_job: Callable[[], Result] | None = None  # set when FLOPs were deferred: counts them, returns the result
        self.control = RunControl(stop=self.stop, on_progress=self._on_progress,
                                  on_deferred_flops=self._keep_flop_job if defer_flops else None)
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

    def _keep_flop_job(self, job: Callable[[], Result]) -> None:
        self.flop_job = job

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
        self._kept: list[tuple[str, list[Result], int]] = []

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def wait(self, timeout_s: float = CANCEL_WAIT_S) -> bool:
        """Until no run of this session is going (False when timeout_s passed first)."""
        if not self._lock.acquire(timeout=timeout_s):
            return False
        self._lock.release()
        return True

    def keep(self, clip: str, results: list[Result], repeats: int = 1) -> None:
        """Hand over a run's results on clip (repeats: the rounds it was asked for, which a stopped run fell short of)."""
        self._kept.append((clip, list(results), repeats))

    def take(self) -> list[tuple[str, list[Result], int]]:
        """The (clip, results, rounds asked for) kept since the last take, oldest first."""
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
    if why := weights_warnings([request.model_id], request.weights, pretrained_problem):
        raise ModelError(why[0])
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
               finished: list[Result] | None = None, snr_db: float = math.inf, repeats: int = 1,
               deferred: list[tuple[Result, Callable[[], Result]]] | None = None) -> Iterator[RunEvent]:
    """Run each request (its own model and settings) on the clip, in rounds: each request once per round, repeats
    rounds, so machine noise falls on every request alike; a failed run becomes a failed Result, and its request
    is not run again; the rest go on.

    audio is the clean clip: each run mixes white noise at snr_db into it (what with_noise plays), and every
    result records that noise. Every final result is also appended to ``finished``. Closing the generator (the page's script stopped:
    Stop, a second Run, a closed tab) cancels the model running at its next batch boundary, and its partial
    result, marked cancelled, still lands in ``finished``. deferred: given, FLOPs the cache lacks are not counted
    in the run; each such result is appended with the job that counts them (background.FlopFiller runs it).
    """
    finished = finished if finished is not None else []
    traces: dict[str, list[PowerSample]] = {}
    sources: dict[str, dict[str, str]] = {}
    spans: dict[str, tuple[float, float]] = {}
    labels = config_labels(requests)
    clip_requests = [clip_request(req, audio, reference, snr_db) for req in requests]
    failed: set[str] = set()
    for repeat in range(1, repeats + 1):
        for req, label, request in zip(requests, labels, clip_requests):
            if label in failed:
                continue  # a configuration that failed fails again: do not repeat it

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
                run = LiveRun(load_exclusive(loader, req), request, defer_flops=deferred is not None).start()
                for trace in run.updates(interval_s):
                    traces[label], sources[label] = trace, run.sources
                    if not math.isnan(run.measured_from_s):
                        spans[label] = (run.measured_from_s, math.nan)
                    yield event("power", waiting_for=waiting_for(req.device), progress=run.progress)
                result = run.outcome()
                spans[label] = (result.measured_from_s, result.measured_to_s)
                if deferred is not None and run.flop_job is not None:
                    deferred.append((result, run.flop_job))
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
                failed.add(label)


def _failed(request: runs.Request, exc: BaseException) -> Result:
    """runs.failed, a stopped run's message naming a local model by its folder (the page never shows a path)."""
    status = runs.status_of(exc)
    message = str(exc).replace(request.model, model_label(request.model)) if status == STATUS_CANCELLED else str(exc)
    return runs.failed(request, message, status)


def session_run(guard: SessionGuard, owner: str, clip: str, requests: Sequence[RunRequest], audio: np.ndarray,
                reference: str, loader: Callable[..., object], snr_db: float = math.inf,
                repeats: int = 1, count_later: Callable[[Result, Callable[[], Result]], None] | None = None
                ) -> Iterator[RunEvent]:
    """run_models as one browser session's run: under its guard (a Stop or a second Run starts the next script
    run at once, which waits for this one), named owner to a session waiting for the same device, what finished
    kept for it even when the page stops following.

    FLOPs the cache lacks are never counted inside the run: once it is over, each such result and its job go to
    count_later (background.FlopFiller.submit), or, without one (class mode), are left uncounted."""
    finished: list[Result] = []
    deferred: list[tuple[Result, Callable[[], Result]]] = []
    RUN_OWNER.set(owner)  # the worker threads run in a copy of this context
    with guard:
        try:
            yield from run_models(requests, audio, reference, loader, finished=finished, snr_db=snr_db,
                                  repeats=repeats, deferred=deferred)
        finally:  # also when Stop, a second Run or a closed tab ends the script run that follows these events
            guard.keep(clip, finished, repeats)  # a stopped script run can no longer write session state
            for result, job in deferred if count_later else ():
                count_later(result, job)
