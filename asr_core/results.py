"""The one result record shared by the CLI, the sweep file and the app.

Field names carry their units. Every energy figure has a sibling ``*_source`` field naming how it
was obtained (``energy_sources``): ``nvml_counter`` (the GPU's cumulative energy counter), ``nvml_power``
(integrated sampled GPU power), ``rapl`` (Intel/AMD RAPL package+DRAM counters), ``estimate`` (modelled, not
measured) or ``unavailable``. ``status`` says how the run ended (``STATUSES``); a run that did not end ``ok``
says why in ``error``.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .energy_sources import UNAVAILABLE
from .sampler import PowerSample

STATUS_OK = "ok"
STATUS_CANCELLED = "cancelled"  # a run stopped at a batch boundary: its figures cover the batches that finished
STATUS_OOM = "oom"  # the run did not fit the device's memory
STATUS_ERROR = "error"  # anything else that stopped the run (a model that cannot load, a bad clip)
STATUSES = (STATUS_OK, STATUS_CANCELLED, STATUS_OOM, STATUS_ERROR)


@dataclass(frozen=True)
class Result:
    """One measured run: a model transcribing a set of clips in batches on one device."""

    # what ran
    model: str
    family: str  # "whisper" | "ctc"
    weights: str  # "pretrained" | "synthetic"
    device: str  # "cpu" | "cuda"
    precision: str  # models.PRECISIONS: fp32, fp16, bf16; int8, int8_fp16 (ctranslate2); q8_0, q5_1 (whisper.cpp)
    runtime: str = "transformers"  # models.RUNTIMES
    batch_size: int = 1
    n_clips: int = 0
    n_batches: int = 0
    audio_s: float = 0.0
    bucket: str = ""
    # time (seconds, summed over batches)
    preprocess_s: float = 0.0
    encoder_s: float = 0.0
    decoder_s: float = 0.0
    latency_s: float = 0.0
    latency_per_batch_s: float = 0.0
    latency_per_utt_s: float = 0.0
    rtf: float = 0.0
    throughput_audio_s_per_s: float = 0.0
    throughput_utt_per_s: float = 0.0
    compile_s: float = 0.0  # transformers-compiled: compiling (and CUDA-graph capture) before the run; never in latency
    # energy (joules); total = gpu + cpu where both are known
    energy_j: float = math.nan
    energy_source: str = UNAVAILABLE
    gpu_energy_j: float = math.nan
    gpu_energy_source: str = UNAVAILABLE
    cpu_energy_j: float = math.nan
    cpu_energy_source: str = UNAVAILABLE
    preprocess_energy_j: float = math.nan
    encoder_energy_j: float = math.nan
    decoder_energy_j: float = math.nan
    energy_per_utt_j: float = math.nan
    energy_per_audio_s_j: float = math.nan
    mean_power_w: float = math.nan
    co2e_kg: float = math.nan
    # memory
    peak_gpu_allocated_bytes: int = 0
    peak_gpu_reserved_bytes: int = 0
    peak_rss_bytes: int = 0  # the whole process's peak resident memory during the run
    rss_before_bytes: int = 0  # resident memory just before the run (model loaded): peak minus this is the run's own
    model_bytes: int = 0  # the weights at this precision: parameters x bytes per parameter
    # compute
    encoder_flops_per_clip: float = math.nan
    decoder_flops_per_token: float = math.nan
    total_flops: float = math.nan
    flops_source: str = ""  # "counted" in this run, "cache" (an earlier count of the same shape), "deferred" (to count
    # after the run), "" (not counted)
    decoder_steps: int = 0  # decoder steps x rows, summed over batches (a batch's rows all take its longest's steps)
    # the machine while measuring: how busy other processes kept the CPUs (percent of all cores)
    cpu_others_before_pct: float = math.nan  # during the untimed warm-up before the run
    cpu_others_during_pct: float = math.nan  # during the timed run
    # noise mixed into the clips before transcribing (asr_core.noise): inf and "" for clean audio, the default;
    # NaN (unknown) never comes from a run, only from a sweep file that wrote NaN
    snr_db: float = math.inf  # signal-to-noise ratio, 10·log10(P_signal / P_noise) over each clip
    noise: str = ""  # "white" | "babble" | "" (none added)
    # quality (NaN when there is no reference or the weights are synthetic)
    wer: float = math.nan
    cer: float = math.nan
    hypotheses: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    # provenance
    cpu_name: str = ""
    gpu_name: str = ""
    torch_version: str = ""
    transformers_version: str = ""
    timestamp: str = ""
    notes: str = ""
    status: str = STATUS_OK
    error: str = ""
    power_trace: tuple[PowerSample, ...] = field(default=(), compare=False)  # as the sampler read it
    measured_from_s: float = math.nan  # where the timed run starts and ends on the power trace's clock;
    measured_to_s: float = math.nan  # samples before it belong to the untimed warm-up

    def to_dict(self, with_trace: bool = False) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hypotheses"] = list(self.hypotheses)
        d["references"] = list(self.references)
        if with_trace:
            d["power_trace"] = [[p.t_s, p.source, p.watts] for p in self.power_trace]
        else:
            d.pop("power_trace")
        return d

    def to_json(self, with_trace: bool = True) -> str:
        return json.dumps(self.to_dict(with_trace), indent=2, default=_json_default, allow_nan=True)


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


RESULT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Result) if f.name != "power_trace")


def failed_result(model: str, family: str, weights: str, device: str, precision: str, error: str,
                  status: str = "error", **extra: Any) -> Result:
    """A row for a run that could not complete (out of memory, bad clip): the sweep keeps going."""
    return Result(model=model, family=family, weights=weights, device=device, precision=precision,
                  status=status, error=error, **extra)
