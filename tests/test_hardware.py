"""Tests for asr_core.hardware's CPU estimate as the power trace reads it (a fake psutil process at the edge), and
NVML's power limit (pynvml patched). The RAPL and NVML energy tests live in test_energy.py beside the windows."""
from __future__ import annotations

import pytest

from asr_core import hardware
from asr_core.hardware import CpuEstimator, LiveChildren
from meter_fakes import N_CORES, TDP_W, TICK_S, FakeChild, TickingProcess, ticks
from test_energy import FakeClock, fake_nvml  # noqa: F401 - fake_nvml is a fixture


def estimator(proc, n_cores: int = N_CORES) -> CpuEstimator:
    return CpuEstimator(TDP_W, process=proc, n_cores=n_cores, tick_s=TICK_S)


def test_energy_counts_reaped_children_and_the_trace_reading_leaves_their_lump_out():
    clock = FakeClock(1.0)
    proc = TickingProcess(clock, own_cores=0.5)
    est = estimator(proc)
    proc.reaped_s = 2.0  # a compiler run reaped at once
    assert est.energy_j() == pytest.approx(TDP_W * (0.5 + 2.0) / N_CORES)  # as before: windows count it
    assert est.trace_energy_j() == pytest.approx(TDP_W * 0.5 / N_CORES)  # the trace draws no lump


def test_live_children_are_counted_as_they_run_and_kept_when_they_go():
    clock = FakeClock()
    proc = TickingProcess(clock, own_cores=0.0)
    children = LiveChildren(proc)
    proc.live = [FakeChild(101, lambda: clock()), FakeChild(102, lambda: 0.5 * clock())]
    clock.advance(1.0)
    assert children.seconds() == pytest.approx(1.5)
    proc.live = [proc.live[1]]  # 101 exits (its time now reaches the parent only as a reaped lump)
    clock.advance(1.0)
    assert children.seconds() == pytest.approx(1.0 + 1.0)  # 101's last-seen second kept, 102 now at 1 s
    proc.live = [FakeChild(102, lambda: 0.1)]  # a new process that took 102's id
    assert children.seconds() == pytest.approx(1.0 + 1.0 + 0.1)  # never backwards


def test_the_trace_reading_adds_live_children_to_the_process_own_time():
    clock = FakeClock(2.0)
    proc = TickingProcess(clock, own_cores=0.25)
    proc.live = [FakeChild(7, lambda: 1.0)]
    assert estimator(proc).trace_energy_j() == pytest.approx(TDP_W * (0.5 + 1.0) / N_CORES)


@pytest.mark.parametrize("n_cores, window_s", [(1, 0.4), (2, 0.25), (64, 0.25)])
def test_the_trace_window_is_long_enough_for_the_clock_tick(n_cores, window_s):
    """Rounding (two ticks a reading) moves a point by at most 5 % of the ceiling, and never under 0.25 s."""
    est = estimator(TickingProcess(FakeClock()), n_cores)
    assert est.ceiling_w == TDP_W
    assert est.rounding_j == pytest.approx(TDP_W * 2 * TICK_S / n_cores)
    assert est.trace_window_s == pytest.approx(window_s)
    assert est.rounding_j / est.trace_window_s <= 0.05 * est.ceiling_w + 1e-9


def test_the_cpu_tick_is_the_kernel_s():
    assert hardware.CPU_TICK_S == pytest.approx(0.01, rel=0.9)  # 100 Hz on Linux; 64 Hz on Windows
    assert ticks(0.0299) == pytest.approx(0.02)


def test_nvml_power_limit_and_none_where_nvml_cannot_say(fake_nvml, monkeypatch):
    monkeypatch.setattr(fake_nvml, "nvmlDeviceGetEnforcedPowerLimit", lambda h: 250_000)
    assert hardware.NvmlGpu(0).power_limit_mw() == 250_000

    def not_supported(handle):
        raise fake_nvml.NVMLError(fake_nvml.NVML_ERROR_NOT_SUPPORTED)
    monkeypatch.setattr(fake_nvml, "nvmlDeviceGetEnforcedPowerLimit", not_supported)
    assert hardware.NvmlGpu(0).power_limit_mw() is None
