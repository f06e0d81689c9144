"""The power sampler: a background thread that reads GPU power and CPU energy at an interval.

It produces the one power-trace type, ``PowerSample``, that travels unchanged from the sensor to the
result record and the app's chart. ``EnergyMonitor`` (``energy.py``) owns one and reads its GPU power
samples to integrate windows on GPUs without an energy counter. Time comes from an injectable clock and
readings from injectable callables, so tests drive it with ``sample_once()`` and no sleeps.

What the trace may draw is set by ``TraceRules``: a CPU point averages over a window long enough for the
clock its meter reads, and no point is drawn above what its meter can report. The GPU samples that windows
integrate are kept as NVML read them, so drawing never changes an energy figure.
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
# A CPU reading whose thread was held up around it for more than this share of its window (a busy interpreter)
# has no well-known time: it neither ends nor starts a window, which just runs on to the next reading.
READ_STALL_FRACTION = 0.1
TIME_EPS_S = 1e-6  # a window's length is a sum of float intervals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PowerSample:
    t_s: float  # seconds since the sampler started (a CPU point: the end of the window it averages)
    source: str  # "gpu" | "cpu"
    watts: float
    window_s: float = 0.0  # how long the reading averages over (a CPU point's window, NVML's ~1 s); 0: not known


@dataclass(frozen=True)
class TraceRules:
    """What the trace may draw from each meter; the defaults draw every reading as it is.

    cpu_window_s: the shortest span a CPU point averages over (long enough for the clock its meter reads).
    cpu_ceiling_w: the most the CPU meter can report. A point over it by no more than cpu_rounding_j (one
    reading's rounding) spread over its window is drawn at the ceiling; one further over is a bug in the reading:
    logged, not drawn. gpu_ceiling_w: the board's power limit; a reading above it is drawn at the limit.
    gpu_average_s: how long the GPU's power reading averages over, carried on each GPU point.
    """

    cpu_window_s: float = 0.0
    cpu_ceiling_w: float = math.inf
    cpu_rounding_j: float = 0.0
    gpu_ceiling_w: float = math.inf
    gpu_average_s: float = 0.0


class PowerSampler:
    """Samples ``gpu_power_w()`` (None: no GPU reading) and the derivative of ``cpu_energy_j()`` (nan: none).

    ``on_sample`` is called from the sampler thread with every new sample; ``clock`` gives seconds
    (``time.perf_counter`` by default); ``rules`` says what the trace may draw.
    """

    def __init__(self, gpu_power_w: Callable[[], float | None], cpu_energy_j: Callable[[], float],
                 interval_s: float = SAMPLE_INTERVAL_S, *,
                 on_sample: Callable[[PowerSample], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter, rules: TraceRules = TraceRules()):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self.on_sample = on_sample
        self.clock = clock
        self.rules = rules
        self._gpu_power_w, self._cpu_energy_j = gpu_power_w, cpu_energy_j
        self._lock = threading.Lock()
        self._trace: list[PowerSample] = []
        self._gpu: list[tuple[float, float]] = []  # (clock time, watts), for integrating windows
        self._cpu_start: tuple[float, float] | None = None  # (clock time, cumulative CPU joules) the window began at
        self._gpu_over_limit_logged = False
        self.t0 = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (no-op if it is running); the trace's time zero is now."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.t0 = self.clock()
        self._cpu_start = None
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
        """Read every source once; the new samples (a CPU point once a window has passed since the last)."""
        t = self.clock()
        new: list[PowerSample] = []
        gpu_w = self._gpu_power_w()
        if gpu_w is not None:
            new.append(self._gpu_point(t, gpu_w))
        new.extend(self._cpu_point())
        with self._lock:
            if gpu_w is not None:
                self._gpu.append((t, gpu_w))  # as read: windows integrate these
            self._trace.extend(new)
        for sample in new:
            self._notify(sample)
        return new

    def _gpu_point(self, t: float, watts: float) -> PowerSample:
        ceiling = self.rules.gpu_ceiling_w
        if watts > ceiling and not self._gpu_over_limit_logged:
            self._gpu_over_limit_logged = True
            log.warning("GPU power read as %.0f W, above the board's %.0f W limit: drawn at the limit", watts, ceiling)
        return PowerSample(t - self.t0, "gpu", min(watts, ceiling), self.rules.gpu_average_s)

    def _cpu_point(self) -> list[PowerSample]:
        """Read the CPU meter once a window has passed since the reading the window began at; a point for it."""
        start, window_s = self._cpu_start, self.rules.cpu_window_s
        if start is not None and self.clock() - start[0] < window_s - TIME_EPS_S:
            return []  # too soon: not even read (the estimate's reading lists this process's children)
        before = self.clock()
        joules = self._cpu_energy_j()
        after = self.clock()
        if math.isnan(joules):
            self._cpu_start = None
            return []
        if after - before > READ_STALL_FRACTION * max(window_s, self.interval_s):
            return []
        t = (before + after) / 2
        self._cpu_start = (t, joules)
        if start is None or t <= start[0]:
            return []
        return self._below_ceiling(t, t - start[0], (joules - start[1]) / (t - start[0]))

    def _below_ceiling(self, t: float, span_s: float, watts: float) -> list[PowerSample]:
        ceiling = self.rules.cpu_ceiling_w
        if watts > ceiling + self.rules.cpu_rounding_j / span_s:
            log.warning("CPU power of %.0f W over %.3f s is above the %.0f W its meter can report: a bug in the "
                        "reading, left out of the power trace", watts, span_s, ceiling)
            return []
        return [PowerSample(t - self.t0, "cpu", min(watts, ceiling), span_s)]

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
