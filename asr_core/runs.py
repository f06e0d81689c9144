"""One run, the same for the CLI, the sweep and the app: a request in, a Result out.

A ``Request`` says everything one run measures: the model and how it runs (runtime, precision, device, weights),
the batch size, the clips and their references, the noise mixed into them (kind, SNR and seed), the clips'
bucket, and what to count. ``measure`` is the one path every driver takes:

1. the clips are prepared here: the request's noise mixed into each (seeded by its place), so the noise a
   result records is the noise that was mixed, by construction; then repeated to fill a batch;
2. a forced token count the decoder cannot emit for these clips is refused (the model says its limit);
3. the measured loop (``measure.transcribe``) runs while the device's lock (``locks``) keeps other runs off it.

``run`` loads the model too and turns any failure into a failed Result (``failed``: status oom, cancelled or
error) so a sweep or an app goes on; the CLI calls ``measure`` and lets a user's error reach its exit code.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from . import noise
from .energy import EnergyMonitor
from .errors import ModelError, ResourceError
from .locks import device_lock
from .measure import Cancelled, RunControl, RunOptions, transcribe
from .models import TRANSFORMERS, family_of
from .noise import CLEAN, SEED as NOISE_SEED, WHITE
from .results import STATUS_CANCELLED, STATUS_ERROR, STATUS_OOM, Result, failed_result
from .runtimes import WHISPER_WINDOW_S, LoadedModel, load_model

# load_model's arguments, in its order: a request's loaded model is known by them
LOAD_KEYS = ("model", "device", "precision", "weights", "runtime")


@dataclass(frozen=True, eq=False)
class Request:
    """One run: the model and how it runs, the clips, the noise mixed into them, and what is counted."""

    model: str  # a registry id, a hub id or a local checkpoint folder
    runtime: str = TRANSFORMERS
    precision: str = "fp32"
    device: str = "cpu"
    weights: str = "pretrained"
    batch_size: int = 1
    clips: tuple[np.ndarray, ...] = ()  # 16 kHz mono float32, clean: the noise is mixed by prepare
    references: tuple[str, ...] | None = None  # one text per clip (WER; synthetic Whisper's forced length)
    snr_db: float = CLEAN  # noise mixed into each clip at this SNR; inf: none
    noise: str = WHITE  # white, or babble from babble_from (the other clips when None)
    noise_seed: int = NOISE_SEED  # clip i's noise is seeded with noise_seed + i
    babble_from: tuple[np.ndarray, ...] | None = None
    bucket: str = ""
    tokens: int | None = None  # synthetic Whisper: force this many new tokens per clip
    warmup: bool = True
    count_flops: bool = True
    co2e_country: str | None = None
    token_counter: Callable[[str], int] | None = None  # synthetic Whisper: counts a reference's tokens

    @property
    def load_args(self) -> tuple[str, str, str, str, str]:
        """load_model's arguments: the loaded model this request runs."""
        return tuple(getattr(self, k) for k in LOAD_KEYS)

    @property
    def noise_kind(self) -> str:
        """The noise as results record it: none for clean audio."""
        return noise.recorded_kind(self.snr_db, self.noise)

    def options(self) -> RunOptions:
        """What the measured loop measures, the noise included."""
        return RunOptions(batch_size=self.batch_size, tokens=self.tokens, warmup=self.warmup,
                          count_flops=self.count_flops, bucket=self.bucket, co2e_country=self.co2e_country,
                          token_counter=self.token_counter, snr_db=self.snr_db, noise=self.noise_kind)


def mixed(clips: Sequence[np.ndarray], snr_db: float, kind: str = WHITE, seed: int = NOISE_SEED,
          babble_from: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    """Each clip with kind noise at snr_db, seeded by its place (seed + i); babble from babble_from (default: the
    other clips), never from the clip itself; inf: the clips as they are."""
    if snr_db == CLEAN:
        return list(clips)
    pool = clips if babble_from is None else babble_from
    return [noise.mix(c, snr_db, kind, seed + i, [o for o in pool if o is not c]) for i, c in enumerate(clips)]


def fill_batch(clips: Sequence[np.ndarray], references: Sequence[str] | None,
               batch_size: int) -> tuple[list[np.ndarray], list[str] | None]:
    """The clips, repeated in turn until there are at least batch_size of them, with their references."""
    if batch_size < 1:
        raise ModelError(f"Batch size must be at least 1, got {batch_size}.")
    n = max(len(clips), batch_size)
    return ([clips[i % len(clips)] for i in range(n)],
            [references[i % len(references)] for i in range(n)] if references else None)


def prepare(request: Request) -> tuple[list[np.ndarray], list[str] | None]:
    """The clips as measured: the request's noise mixed into each, then repeated to fill a batch."""
    clips = mixed(request.clips, request.snr_db, request.noise, request.noise_seed, request.babble_from)
    return fill_batch(clips, request.references, request.batch_size)


def check_tokens(model: LoadedModel, clips: Sequence[np.ndarray], tokens: int | None) -> None:
    """Refuse more forced tokens than the decoder can emit for these clips (the model's token_limit)."""
    most = model.token_limit(clips) if tokens is not None and model.weights == "synthetic" else None
    if most is not None and tokens > most:
        raise ModelError(f"--tokens {tokens} is more than the decoder of {model.model_id} can emit for these clips "
                         f"({model.decoder_limit()} new tokens per {WHISPER_WINDOW_S:.0f}-second window): use "
                         f"--tokens {most} or fewer.")


def measure(request: Request, model: LoadedModel, control: RunControl | None = None,
            monitor: EnergyMonitor | None = None) -> Result:
    """The request measured on its loaded model: clips prepared, tokens checked, the measured loop run.

    control: a stop event and a progress callback. monitor: an open EnergyMonitor (the app's streams samples).
    Raises what the run raises (a user's error, ResourceError, Cancelled).
    """
    clips, references = prepare(request)
    check_tokens(model, clips, request.tokens)
    with device_lock(model.device):  # a second run on this device waits here: measurements never overlap
        return transcribe(model, clips, references, request.options(), monitor=monitor,
                          control=_jobs_locked(control, model.device))


def _jobs_locked(control: RunControl | None, device: str) -> RunControl | None:
    """control, its deferred FLOP count taking the device's lock when it runs (it runs the model: never beside a
    measured window)."""
    if control is None or control.on_deferred_flops is None:
        return control
    hand_over = control.on_deferred_flops

    def locked(job: Callable[[], Result]) -> Result:
        with device_lock(device):
            return job()
    return dataclasses.replace(control, on_deferred_flops=lambda job: hand_over(lambda: locked(job)))


def run(request: Request, load: Callable[[Request], LoadedModel] = lambda r: load_model(*r.load_args),
        control: RunControl | None = None, monitor: EnergyMonitor | None = None,
        describe: Callable[[BaseException], str] = str) -> Result:
    """load(request), then measure; any failure becomes a failed Result whose error is describe(exc)."""
    try:
        return measure(request, load(request), control, monitor)
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded and the caller goes on
        return failed(request, describe(exc), status_of(exc))


def status_of(exc: BaseException) -> str:
    """How a run that raised exc ended: out of memory, stopped, or an error."""
    if isinstance(exc, ResourceError):
        return STATUS_OOM
    return STATUS_CANCELLED if isinstance(exc, Cancelled) else STATUS_ERROR


def failed(request: Request, error: str, status: str = STATUS_ERROR) -> Result:
    """The record of a run that did not finish: what it was asked to run, its status and why."""
    try:
        family = family_of(request.model)
    except ModelError:
        family = ""
    return failed_result(request.model, family, request.weights, request.device, request.precision, error,
                         status=status, runtime=request.runtime, batch_size=request.batch_size, bucket=request.bucket,
                         snr_db=request.snr_db, noise=request.noise_kind)

