"""The power sampler: a background thread that reads GPU power and CPU energy at an interval.

It produces the one power-trace type, ``PowerSample``, that travels unchanged from the sensor to the
result record and the app's chart. ``EnergyMonitor`` (``energy.py``) owns one and reads its GPU power
samples to integrate windows on GPUs without an energy counter. Time comes from an injectable clock and
readings from injectable callables, so tests drive it with ``sample_once()`` and no sleeps.
"""
from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

SAMPLE_INTERVAL_S = 0.05  # short windows (~0.2 s) still get a few power samples

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PowerSample:
    t_s: float  # seconds since the sampler started
    source: str  # "gpu" | "cpu"
    watts: float


class PowerSampler:
    """Samples ``gpu_power_w()`` (None: no GPU reading) and the derivative of ``cpu_energy_j()`` (nan: none).

    ``on_sample`` is called from the sampler thread with every new sample; ``clock`` gives seconds
    (``time.perf_counter`` by default).
    """

    def __init__(self, gpu_power_w: Callable[[], float | None], cpu_energy_j: Callable[[], float],
                 interval_s: float = SAMPLE_INTERVAL_S, *,
                 on_sample: Callable[[PowerSample], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self.on_sample = on_sample
        self.clock = clock
        self._gpu_power_w, self._cpu_energy_j = gpu_power_w, cpu_energy_j
        self._lock = threading.Lock()
        self._trace: list[PowerSample] = []
        self._gpu: list[tuple[float, float]] = []  # (clock time, watts), for integrating windows
        self._prev_cpu: tuple[float, float] | None = None  # (clock time, cumulative CPU joules)
        self.t0 = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (no-op if it is running); the trace's time zero is now."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.t0 = self.clock()
        self._prev_cpu = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="PowerSampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        deadline = time.perf_counter()
        while not self._stop.is_set():
            self.sample_once()
            deadline = max(deadline + self.interval_s, time.perf_counter())
            self._stop.wait(deadline - time.perf_counter())

    # --- one sample --------------------------------------------------------------------------

    def sample_once(self) -> list[PowerSample]:
        """Read every source once; the new samples (a CPU sample needs a previous CPU reading)."""
        t = self.clock()
        new: list[PowerSample] = []
        gpu_w = self._gpu_power_w()
        if gpu_w is not None:
            new.append(PowerSample(t - self.t0, "gpu", gpu_w))
        cpu_j, prev = self._cpu_energy_j(), self._prev_cpu
        if prev is not None and t > prev[0] and not math.isnan(cpu_j - prev[1]):
            new.append(PowerSample(t - self.t0, "cpu", (cpu_j - prev[1]) / (t - prev[0])))
        self._prev_cpu = (t, cpu_j)
        with self._lock:
            if gpu_w is not None:
                self._gpu.append((t, gpu_w))
            self._trace.extend(new)
        for sample in new:
            self._notify(sample)
        return new

    def _notify(self, sample: PowerSample) -> None:
        if self.on_sample is None:
            return
        try:
            self.on_sample(sample)
        except Exception:  # a broken chart callback must not stop the measurement
            log.exception("on_sample callback failed")

    # --- what it holds -----------------------------------------------------------------------

    @property
    def trace(self) -> list[PowerSample]:
        with self._lock:
            return list(self._trace)

    def gpu_between(self, t_begin: float, t_end: float) -> list[tuple[float, float]]:
        """GPU (clock time, watts) samples strictly inside a window."""
        with self._lock:
            lo = bisect.bisect_right(self._gpu, t_begin, key=lambda s: s[0])
            hi = bisect.bisect_left(self._gpu, t_end, key=lambda s: s[0])
            return self._gpu[lo:hi]
