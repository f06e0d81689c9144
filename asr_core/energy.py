"""Energy windows over GPU and CPU meters, and what each figure came from.

    with EnergyMonitor(gpu_index=0) as mon:
        mon.begin_window("encoder")
        ...                               # the caller synchronises CUDA before ending a window
        m = mon.end_window("encoder")     # Measurement(time_s, gpu_energy_j, gpu_source, ...)

GPU energy is the delta of NVML's cumulative energy counter where the GPU has one (Volta and newer,
``nvml_counter``), else the trapezoid integral of sampled NVML power (``nvml_power``). CPU energy is
the delta of the RAPL package(+DRAM) counters where readable (``rapl``), else a model of this
process's CPU time at an assumed package power (``estimate``). A meter that is not there is a null meter
(``hardware.NullGpu``, ``NULL_CPU``) whose readings are missing, so a window never asks whether one exists.
Hardware is reached only through ``asr_core.hardware``; the power trace comes from ``asr_core.sampler``; CO2e
from ``asr_core.carbon``; the process's memory from ``asr_core.memory``.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import psutil

from .energy_sources import ESTIMATE, JOIN, NVML_COUNTER, NVML_POWER, RAPL, UNAVAILABLE
from .hardware import (CPU_TDP_W_DEFAULT, NVML_POWER_AVERAGE_S, CpuEstimator, DeviceUnavailable, NullGpu, NvmlGpu,
                       Rapl)
from .sampler import SAMPLE_INTERVAL_S, PowerSample, PowerSampler, TraceRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Measurement:
    """Time and energy of one window; each energy figure carries the source it came from."""

    name: str
    time_s: float
    gpu_energy_j: float
    gpu_source: str  # NVML_COUNTER | NVML_POWER | UNAVAILABLE (energy_sources)
    cpu_energy_j: float
    cpu_source: str  # RAPL | ESTIMATE | UNAVAILABLE

    def _known(self) -> list[tuple[float, str]]:
        parts = ((self.gpu_energy_j, self.gpu_source), (self.cpu_energy_j, self.cpu_source))
        return [(j, s) for j, s in parts if not math.isnan(j) and s != UNAVAILABLE]

    @property
    def energy_j(self) -> float:
        """GPU + CPU joules over the parts that were known; nan if neither was."""
        known = self._known()
        return sum(j for j, _ in known) if known else math.nan

    @property
    def energy_source(self) -> str:
        """The sources behind ``energy_j``, e.g. ``nvml_counter+rapl`` or ``estimate``."""
        return JOIN.join(s for _, s in self._known()) or UNAVAILABLE

    @property
    def mean_power_w(self) -> float:
        return self.energy_j / self.time_s if self.time_s > 0 else math.nan


@dataclass(frozen=True)
class MeterInfo:
    name: str  # "NVML energy counter" | "NVML power" | "RAPL" | "CPU estimate"
    available: bool
    reason: str = ""  # why not, in plain words; empty when available
    detail: str = ""  # what it reads when available (GPU name, RAPL zones, the estimate's assumption)


@dataclass(frozen=True)
class CpuMeter:
    """The CPU's cumulative joules (``joules()``; nan when a read fails) and the source they are.

    The power trace draws ``trace_joules()`` (the estimate's leaves out children's time reaped in a lump) under
    the estimate's rules (``estimator``: its clock's window and its model's ceiling); RAPL is drawn as read.
    """
    source: str
    joules: Callable[[], float]
    estimator: CpuEstimator | None = None

    def trace_joules(self) -> float:
        return self.estimator.trace_energy_j() if self.estimator is not None else self.joules()


NULL_CPU = CpuMeter(UNAVAILABLE, lambda: math.nan)  # no CPU meter: every reading is missing


@dataclass(frozen=True)
class _Begin:
    t: float
    gpu_mj: int | None
    gpu_w: float | None
    cpu_j: float


class EnergyMonitor:
    """Energy windows over the machine's meters, with a ``PowerSampler`` running beside them.

    ``gpu_index=None`` measures no GPU. ``gpu``/``rapl``/``cpu_estimator`` inject hardware-layer objects
    (an injected ``gpu`` is used whatever ``gpu_index`` says); left as None, the real NVML GPU and RAPL are
    opened when possible, and a null meter stands in when not. ``on_sample`` and ``clock`` go to the sampler.
    """

    def __init__(self, gpu_index: int | None = None, interval_s: float = SAMPLE_INTERVAL_S, *,
                 gpu: Any = None, rapl: Any = None, cpu_estimator: Any = None,
                 on_sample: Callable[[PowerSample], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self._gpu = gpu if gpu is not None else _open_gpu(gpu_index)
        self._gpu_source = _gpu_source(self._gpu)
        self._cpu = _cpu_meter(rapl, cpu_estimator)
        self.clock = clock
        self._windows: dict[str, _Begin] = {}
        self.sampler = PowerSampler(self._gpu_power_w, lambda: self._cpu_j(trace=True), interval_s,
                                    on_sample=on_sample, clock=clock, rules=_trace_rules(self._gpu, self._cpu))

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sampler thread (no-op if it is running)."""
        self.sampler.start()

    def stop(self) -> None:
        self.sampler.stop()

    def __enter__(self) -> EnergyMonitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- windows -----------------------------------------------------------------------------

    def begin_window(self, name: str) -> None:
        if name in self._windows:
            raise ValueError(f"window {name!r} is already open; end it before beginning it again")
        t = self.clock()
        gpu_mj = self._gpu.energy_mj()
        gpu_w = self._gpu_power_w() if gpu_mj is None else None
        self._windows[name] = _Begin(t, gpu_mj, gpu_w, self._cpu_j())

    def end_window(self, name: str) -> Measurement:
        begin = self._windows.pop(name, None)
        if begin is None:
            raise ValueError(f"window {name!r} was never begun (open windows: {sorted(self._windows)})")
        t = self.clock()
        gpu_j, gpu_source = self._gpu_window(begin, t)
        cpu_j = self._cpu_j() - begin.cpu_j
        cpu_source = UNAVAILABLE if math.isnan(cpu_j) else self._cpu.source
        return Measurement(name, t - begin.t, gpu_j, gpu_source, cpu_j, cpu_source)

    def _gpu_window(self, begin: _Begin, t_end: float) -> tuple[float, str]:
        if begin.gpu_mj is not None:
            end_mj = self._gpu.energy_mj()
            if end_mj is None:
                return math.nan, UNAVAILABLE
            return (end_mj - begin.gpu_mj) / 1000.0, NVML_COUNTER
        end_w = self._gpu_power_w()
        if begin.gpu_w is None or end_w is None:
            return math.nan, UNAVAILABLE
        points = [(begin.t, begin.gpu_w), *self.sampler.gpu_between(begin.t, t_end), (t_end, end_w)]
        return _trapezoid(points), NVML_POWER

    # --- readings ----------------------------------------------------------------------------

    def _gpu_power_w(self) -> float | None:
        mw = self._gpu.power_mw()
        return None if mw is None else mw / 1000.0

    def _cpu_j(self, trace: bool = False) -> float:
        """The CPU's cumulative joules (RAPL or estimate; for the trace, the estimate's trace reading, which
        leaves out children's time reaped in a lump); nan if the read failed."""
        try:
            return float(self._cpu.trace_joules() if trace else self._cpu.joules())
        except (OSError, ValueError, psutil.Error) as e:
            log.warning("CPU energy read failed: %s", e)
        return math.nan

    # --- results -----------------------------------------------------------------------------

    @property
    def trace(self) -> list[PowerSample]:
        return self.sampler.trace

    def trace_time(self) -> float:
        """Now, on the clock of the power trace (seconds since the sampler started)."""
        return self.clock() - self.sampler.t0

    @property
    def sources(self) -> dict[str, str]:
        return {"gpu": self._gpu_source, "cpu": self._cpu.source}

    @property
    def gpu_name(self) -> str:
        try:
            return self._gpu.name()
        except Exception:
            return ""


def _open_gpu(gpu_index: int | None) -> Any:
    """The NVML GPU that CUDA calls gpu_index, else a null one (no GPU asked for, or none readable)."""
    gpu = _try_open(NvmlGpu, gpu_index) if gpu_index is not None else None
    return gpu if gpu is not None else NullGpu()


def _cpu_meter(rapl: Any, estimator: Any) -> CpuMeter:
    """RAPL where it can be read, else the CPU-time estimate, else the null meter."""
    rapl = rapl if rapl is not None else _try_open(Rapl)
    if rapl is not None:
        return CpuMeter(RAPL, lambda: rapl.energy_uj() / 1e6)
    estimator = estimator if estimator is not None else _try_open(CpuEstimator)
    return CpuMeter(ESTIMATE, estimator.energy_j, estimator) if estimator is not None else NULL_CPU


def _try_open(cls: Callable[..., Any], *args: Any) -> Any:
    """Open a device-layer object, or None when the hardware is not there (never raises)."""
    try:
        return cls(*args)
    except Exception as e:  # DeviceUnavailable, or a driver failing in a way we did not foresee
        log.debug("%s unavailable: %s", getattr(cls, "__name__", cls), e)
        return None


def _gpu_source(gpu: Any) -> str:
    if gpu.energy_mj() is not None:
        return NVML_COUNTER
    return NVML_POWER if gpu.power_mw() is not None else UNAVAILABLE


def _trace_rules(gpu: Any, cpu: CpuMeter) -> TraceRules:
    """What the power trace may draw: the estimate over windows its clock resolves, never above its model's
    ceiling; GPU power never above the board's limit, marked as NVML's ~1 s average. RAPL is drawn as read."""
    limit_mw = gpu.power_limit_mw()
    estimator = cpu.estimator
    gpu_rules = dict(gpu_ceiling_w=math.inf if limit_mw is None else limit_mw / 1000.0,
                     gpu_average_s=NVML_POWER_AVERAGE_S)
    if estimator is None:
        return TraceRules(**gpu_rules)
    return TraceRules(cpu_window_s=estimator.trace_window_s, cpu_ceiling_w=estimator.ceiling_w,
                      cpu_rounding_j=estimator.rounding_j, **gpu_rules)


def _trapezoid(points: list[tuple[float, float]]) -> float:
    """Integral of (time, watts) points, in joules."""
    return sum((t1 - t0) * (w0 + w1) / 2 for (t0, w0), (t1, w1) in zip(points, points[1:]))


# --- provenance ----------------------------------------------------------------------------------

def meter_status(gpu_index: int | None = 0) -> list[MeterInfo]:
    """Which meters this machine can read, and why not where it cannot (never raises)."""
    return [*_gpu_status(gpu_index), _rapl_status(), MeterInfo(
        "CPU estimate", True, detail=f"assumes {CPU_TDP_W_DEFAULT:g} W package power x this process's "
        f"share of {psutil.cpu_count() or 1} logical cores; a model, not a measurement")]


def _gpu_status(gpu_index: int | None) -> list[MeterInfo]:
    names = ("NVML energy counter", "NVML power")
    if gpu_index is None:
        return [MeterInfo(n, False, "no GPU requested (CPU run)") for n in names]
    try:
        gpu = NvmlGpu(gpu_index)
        label = f"GPU {gpu_index}: {gpu.name()}"
        has_counter, has_power = gpu.energy_mj() is not None, gpu.power_mw() is not None
    except DeviceUnavailable as e:
        return [MeterInfo(n, False, str(e)) for n in names]
    except Exception as e:
        return [MeterInfo(n, False, f"unexpected NVML failure: {e}") for n in names]
    return [
        MeterInfo(names[0], has_counter, "" if has_counter else
                  "this GPU has no cumulative energy counter (needs Volta or newer)", label),
        MeterInfo(names[1], has_power, "" if has_power else "this GPU does not report power draw", label),
    ]


def _rapl_status() -> MeterInfo:
    try:
        rapl = Rapl()
    except DeviceUnavailable as e:
        return MeterInfo("RAPL", False, str(e))
    except Exception as e:
        return MeterInfo("RAPL", False, f"unexpected RAPL failure: {e}")
    zones = ", ".join(f"{z.path.name} ({z.name})" for z in rapl.zones)
    return MeterInfo("RAPL", True, detail=f"zones: {zones}")
