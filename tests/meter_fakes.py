"""Fakes at the CPU estimate's edge (psutil's process): CPU time reported in whole clock ticks, as the kernel
does, on a clock the test moves; children that run (listed live) and are reaped (their time added to the
parent's children_* fields in one lump). They reproduce the spikes the live power chart used to draw. And a
RAPL package drawing steady power, whose readings the trace draws as read (a run too short for the estimate's
window still has a trace)."""
from __future__ import annotations

import math
import time
from collections import namedtuple
from typing import Callable

TICK_S = 0.01  # Linux's USER_HZ = 100
TDP_W, N_CORES = 85.0, 2  # the estimate's defaults on this project's 2-core machine: 42.5 W per busy core
RAPL_W = 30.0  # SteadyRapl's package power

Times = namedtuple("Times", "user system children_user children_system")


def ticks(seconds: float) -> float:
    """CPU seconds as /proc reports them: rounded down to a whole tick."""
    return math.floor(seconds / TICK_S + 1e-9) * TICK_S


class FakeChild:
    """A live child process whose CPU seconds so far are ``cpu_s()``."""

    def __init__(self, pid: int, cpu_s: Callable[[], float]):
        self.pid, self.cpu_s = pid, cpu_s

    def cpu_times(self) -> Times:
        return Times(ticks(self.cpu_s()), 0.0, 0.0, 0.0)


class TickingProcess:
    """This process: its threads busy ``own_cores`` cores since time 0 on ``clock``; ``reaped_s`` CPU seconds of
    children already reaped (a test adds a lump at once, as the kernel does); ``live`` its running children."""

    def __init__(self, clock: Callable[[], float], own_cores: float = 1.0):
        self.clock, self.own_cores = clock, own_cores
        self.reaped_s = 0.0
        self.live: list[FakeChild] = []

    def cpu_times(self) -> Times:
        return Times(ticks(self.own_cores * self.clock()), 0.0, ticks(self.reaped_s), 0.0)

    def children(self, recursive: bool = False) -> list[FakeChild]:
        return list(self.live)


def watts_for(cores: float) -> float:
    """What the estimate's model gives for this many busy cores."""
    return TDP_W * cores / N_CORES


class SteadyRapl:
    """Stands in for hardware.Rapl: a package drawing a steady RAPL_W on the real clock."""

    def energy_uj(self) -> int:
        return round(RAPL_W * time.perf_counter() * 1e6)


class SpikyProcess:
    """This process as psutil reads it, with a lump of SPIKE_CPU_S CPU seconds landing in its time every SPIKE_EVERY_S
    (as children's time lands when they are reaped, or ticks bunch up): differenced over a short window, each lump is
    a reading far above the estimate's ceiling, which the power trace must never draw."""

    SPIKE_EVERY_S, SPIKE_CPU_S = 0.7, 1.0

    def __init__(self):
        import os
        import psutil
        self._real, self._t0 = psutil.Process(os.getpid()), time.perf_counter()

    def _lumps_s(self) -> float:
        return self.SPIKE_CPU_S * int((time.perf_counter() - self._t0) / self.SPIKE_EVERY_S)

    def cpu_times(self) -> Times:
        t = self._real.cpu_times()
        return Times(t.user + self._lumps_s(), t.system, t.children_user, t.children_system)

    def children(self, recursive: bool = False) -> list:
        return self._real.children(recursive=recursive)
