"""Energy windows over GPU and CPU meters, a background power trace, and what each figure came from.

    with EnergyMonitor(gpu_index=0) as mon:
        mon.begin_window("encoder")
        ...                               # the caller synchronises CUDA before ending a window
        m = mon.end_window("encoder")     # Measurement(time_s, gpu_energy_j, gpu_source, ...)

GPU energy is the delta of NVML's cumulative energy counter where the GPU has one (Volta and newer,
``nvml_counter``), else the trapezoid integral of sampled NVML power (``nvml_power``). CPU energy is
the delta of the RAPL package(+DRAM) counters where readable (``rapl``), else a model of this
process's CPU time at an assumed package power (``estimate``). Hardware is reached only through
``asr_core.devices``.
"""
from __future__ import annotations

import bisect
import importlib.util
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import psutil

from asr_core.devices import CPU_TDP_W_DEFAULT, CpuEstimator, DeviceUnavailable, NvmlGpu, Rapl

__all__ = [
    "SAMPLE_INTERVAL_S", "CPU_TDP_W_DEFAULT", "J_PER_KWH", "PowerSample", "Measurement", "MeterInfo",
    "EnergyMonitor", "meter_status", "co2e_kg", "carbon_intensity_g_per_kwh", "grid_countries",
]

SAMPLE_INTERVAL_S = 0.05  # sampler period; short windows (~0.2 s) still get a few power samples
J_PER_KWH = 3.6e6
ENERGY_MIX_FILE = "data/private_infra/global_energy_mix.json"  # inside the codecarbon package
UNAVAILABLE = "unavailable"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PowerSample:
    t_s: float  # seconds since the monitor started
    source: str  # "gpu" | "cpu"
    watts: float


@dataclass(frozen=True)
class Measurement:
    """Time and energy of one window; each energy figure carries the source it came from."""

    name: str
    time_s: float
    gpu_energy_j: float
    gpu_source: str  # "nvml_counter" | "nvml_power" | "unavailable"
    cpu_energy_j: float
    cpu_source: str  # "rapl" | "estimate" | "unavailable"

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
        return "+".join(s for _, s in self._known()) or UNAVAILABLE

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
class _Begin:
    t: float
    gpu_mj: int | None
    gpu_w: float | None
    cpu_j: float


class EnergyMonitor:
    """Energy windows plus a background sampler of GPU power, CPU power and peak RSS.

    ``gpu_index=None`` measures no GPU. ``gpu``/``rapl``/``cpu_estimator`` inject device-layer objects
    (an injected ``gpu`` is used whatever ``gpu_index`` says); left as None, the real NVML GPU and
    RAPL are opened when possible and silently skipped when not. ``on_sample`` is called from the
    sampler thread with every new ``PowerSample``.
    """

    def __init__(self, gpu_index: int | None = None, interval_s: float = SAMPLE_INTERVAL_S, *,
                 gpu: Any = None, rapl: Any = None, cpu_estimator: Any = None,
                 on_sample: Callable[[PowerSample], None] | None = None):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self.on_sample = on_sample
        if gpu is None and gpu_index is not None:
            gpu = _try_open(NvmlGpu, gpu_index)
        self._gpu = gpu
        self._gpu_source = _gpu_source(gpu)
        self._rapl = rapl if rapl is not None else _try_open(Rapl)
        if self._rapl is not None:
            self._cpu_source = "rapl"
        else:
            self._estimator = cpu_estimator if cpu_estimator is not None else _try_open(CpuEstimator)
            self._cpu_source = "estimate" if self._estimator is not None else UNAVAILABLE
        self._proc = psutil.Process()
        self._lock = threading.Lock()
        self._windows: dict[str, _Begin] = {}
        self._trace: list[PowerSample] = []
        self._gpu_samples: list[tuple[float, float]] = []  # (perf_counter time, watts) for integration
        self._peak_rss = 0
        self._t0 = time.perf_counter()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sampler thread (no-op if it is running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._t0 = time.perf_counter()
        self._stop_event = threading.Event()
        self._update_rss()
        self._thread = threading.Thread(target=self._run, name="EnergyMonitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop_event.set()
        self._thread.join()
        self._thread = None

    def __enter__(self) -> EnergyMonitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- windows -----------------------------------------------------------------------------

    def begin_window(self, name: str) -> None:
        if name in self._windows:
            raise ValueError(f"window {name!r} is already open; end it before beginning it again")
        t = time.perf_counter()
        gpu_mj = gpu_w = None
        if self._gpu is not None:
            gpu_mj = self._gpu.energy_mj()
            gpu_w = self._gpu_power_w() if gpu_mj is None else None
        self._windows[name] = _Begin(t, gpu_mj, gpu_w, self._cpu_j())
        self._update_rss()

    def end_window(self, name: str) -> Measurement:
        begin = self._windows.pop(name, None)
        if begin is None:
            raise ValueError(f"window {name!r} was never begun (open windows: {sorted(self._windows)})")
        t = time.perf_counter()
        gpu_j, gpu_source = self._gpu_window(begin, t)
        cpu_j = self._cpu_j() - begin.cpu_j
        cpu_source = UNAVAILABLE if math.isnan(cpu_j) else self._cpu_source
        self._update_rss()
        return Measurement(name, t - begin.t, gpu_j, gpu_source, cpu_j, cpu_source)

    def _gpu_window(self, begin: _Begin, t_end: float) -> tuple[float, str]:
        if self._gpu is None:
            return math.nan, UNAVAILABLE
        if begin.gpu_mj is not None:
            end_mj = self._gpu.energy_mj()
            if end_mj is None:
                return math.nan, UNAVAILABLE
            return (end_mj - begin.gpu_mj) / 1000.0, "nvml_counter"
        end_w = self._gpu_power_w()
        if begin.gpu_w is None or end_w is None:
            return math.nan, UNAVAILABLE
        with self._lock:
            lo = bisect.bisect_right(self._gpu_samples, begin.t, key=lambda s: s[0])
            hi = bisect.bisect_left(self._gpu_samples, t_end, key=lambda s: s[0])
            inside = self._gpu_samples[lo:hi]
        points = [(begin.t, begin.gpu_w), *inside, (t_end, end_w)]
        return _trapezoid(points), "nvml_power"

    # --- readings ----------------------------------------------------------------------------

    def _gpu_power_w(self) -> float | None:
        mw = self._gpu.power_mw()
        return None if mw is None else mw / 1000.0

    def _cpu_j(self) -> float:
        """The CPU's cumulative joules (RAPL or estimate); nan if the read failed."""
        try:
            if self._cpu_source == "rapl":
                return self._rapl.energy_uj() / 1e6
            if self._cpu_source == "estimate":
                return float(self._estimator.energy_j())
        except (OSError, ValueError, psutil.Error) as e:
            log.warning("CPU energy read failed: %s", e)
        return math.nan

    def _update_rss(self) -> None:
        try:
            rss = self._proc.memory_info().rss
        except psutil.Error:
            return
        with self._lock:
            self._peak_rss = max(self._peak_rss, rss)

    # --- sampler -----------------------------------------------------------------------------

    def _run(self) -> None:
        prev: tuple[float, float] | None = None  # (time, cumulative CPU joules)
        deadline = time.perf_counter()
        while not self._stop_event.is_set():
            prev = self._sample_once(prev)
            deadline = max(deadline + self.interval_s, time.perf_counter())
            self._stop_event.wait(deadline - time.perf_counter())

    def _sample_once(self, prev: tuple[float, float] | None) -> tuple[float, float]:
        t = time.perf_counter()
        new: list[PowerSample] = []
        gpu_w = self._gpu_power_w() if self._gpu is not None else None
        if gpu_w is not None:
            new.append(PowerSample(t - self._t0, "gpu", gpu_w))
        cpu_j = self._cpu_j()
        if prev is not None and t > prev[0] and not math.isnan(cpu_j - prev[1]):
            new.append(PowerSample(t - self._t0, "cpu", (cpu_j - prev[1]) / (t - prev[0])))
        with self._lock:
            if gpu_w is not None:
                self._gpu_samples.append((t, gpu_w))
            self._trace.extend(new)
        self._update_rss()
        for sample in new:
            self._notify(sample)
        return t, cpu_j

    def _notify(self, sample: PowerSample) -> None:
        if self.on_sample is None:
            return
        try:
            self.on_sample(sample)
        except Exception:  # a broken chart callback must not stop the measurement
            log.exception("on_sample callback failed")

    # --- results -----------------------------------------------------------------------------

    @property
    def trace(self) -> list[PowerSample]:
        with self._lock:
            return list(self._trace)

    @property
    def peak_rss_bytes(self) -> int:
        with self._lock:
            return self._peak_rss

    def reset_peaks(self) -> None:
        with self._lock:
            self._peak_rss = 0
        self._update_rss()

    @property
    def sources(self) -> dict[str, str]:
        return {"gpu": self._gpu_source, "cpu": self._cpu_source}

    @property
    def gpu_name(self) -> str:
        try:
            return self._gpu.name() if self._gpu is not None else ""
        except Exception:
            return ""


def _try_open(cls: Callable[..., Any], *args: Any) -> Any:
    """Open a device-layer object, or None when the hardware is not there (never raises)."""
    try:
        return cls(*args)
    except Exception as e:  # DeviceUnavailable, or a driver failing in a way we did not foresee
        log.debug("%s unavailable: %s", getattr(cls, "__name__", cls), e)
        return None


def _gpu_source(gpu: Any) -> str:
    if gpu is None:
        return UNAVAILABLE
    if gpu.energy_mj() is not None:
        return "nvml_counter"
    return "nvml_power" if gpu.power_mw() is not None else UNAVAILABLE


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


# --- carbon --------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _energy_mix() -> dict[str, Any] | None:
    """CodeCarbon's bundled per-country grid data, read from disk without importing codecarbon."""
    try:
        spec = importlib.util.find_spec("codecarbon")
        root = Path(next(iter(spec.submodule_search_locations)))
        return json.loads((root / ENERGY_MIX_FILE).read_text())
    except Exception as e:  # not installed, moved in a new release, unreadable
        log.debug("CodeCarbon grid data unavailable: %s", e)
        return None


def grid_countries() -> dict[str, str]:
    """ISO 3166 alpha-3 code -> country name, for the countries CodeCarbon has grid data for."""
    return {code: entry.get("country_name", code) for code, entry in (_energy_mix() or {}).items()}


def carbon_intensity_g_per_kwh(country_iso_code: str = "USA") -> float:
    """The country's grid carbon intensity (g CO2eq per kWh) from CodeCarbon's data; nan if unreadable."""
    mix = _energy_mix()
    if mix is None:
        return math.nan
    entry = mix.get(country_iso_code.upper())
    if entry is None:
        raise ValueError(f"no grid data for country {country_iso_code!r}; "
                         "use an ISO 3166 alpha-3 code such as 'USA' or 'FRA'")
    value = entry.get("carbon_intensity")
    return math.nan if value is None else float(value)


def co2e_kg(energy_j: float, country_iso_code: str = "USA") -> float:
    """Mass of CO2-equivalent (kg) for ``energy_j`` joules drawn from the country's grid; nan if unknown."""
    return energy_j / J_PER_KWH * carbon_intensity_g_per_kwh(country_iso_code) / 1000.0
