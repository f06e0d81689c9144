"""Tests for asr_core.sampler's power trace: what it may draw (TraceRules), on a fake clock with a fake psutil
process at the edge, through the monitor that sets the rules. Each spike the live chart used to draw is
reproduced with the old rules (every reading differenced, nothing capped) and shown gone with the new."""
from __future__ import annotations

import logging
import math

import pytest

from asr_core.energy import EnergyMonitor
from asr_core.hardware import CpuEstimator
from asr_core.sampler import PowerSampler, TraceRules
from meter_fakes import N_CORES, TDP_W, TICK_S, FakeChild, TickingProcess, watts_for
from test_energy import FakeClock, FakeGpu, no_rapl  # noqa: F401 - no_rapl is a fixture

ROUNDING_W = TDP_W * 2 * TICK_S / N_CORES / 0.25  # two ticks over a 0.25 s window: 3.4 W


def drive(sampler: PowerSampler, clock: FakeClock, times: list[float]) -> list:
    """Take one sample at each of these clock times (as a thread that is late now and then would)."""
    for t in times:
        clock.t = t
        sampler.sample_once()
    return [s for s in sampler.trace if s.source == "cpu"]


def estimate_monitor(proc: TickingProcess, clock: FakeClock, **kw) -> EnergyMonitor:
    est = CpuEstimator(TDP_W, process=proc, n_cores=N_CORES, tick_s=TICK_S)
    return EnergyMonitor(cpu_estimator=est, clock=clock, **kw)


def old_sampler(proc: TickingProcess, clock: FakeClock) -> PowerSampler:
    """How the trace was drawn before: the estimate's energy differenced at every sample, nothing capped."""
    est = CpuEstimator(TDP_W, process=proc, n_cores=N_CORES, tick_s=TICK_S)
    return PowerSampler(lambda: None, est.energy_j, clock=clock)


# a sampler thread 2 ms apart once (it was held up, then caught up), with one tick between the two readings
LATE = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.298, 0.30, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75]


def test_a_tick_in_a_short_gap_was_a_spike_and_is_now_an_average(no_rapl):
    clock = FakeClock()
    proc = TickingProcess(clock, own_cores=1.0)  # one of two cores busy: 42.5 W
    assert max(s.watts for s in drive(old_sampler(proc, clock), clock, LATE)) > 200  # 0.01 s of CPU in 2 ms
    clock.t = 0.0
    mon = estimate_monitor(proc, clock)
    cpu = drive(mon.sampler, clock, LATE)
    assert [s.t_s for s in cpu] == pytest.approx([0.25, 0.5, 0.75])  # windows of 0.25 s, not of every gap
    assert [s.window_s for s in cpu] == pytest.approx([0.25] * 3)
    assert all(abs(s.watts - watts_for(1.0)) <= ROUNDING_W for s in cpu)


def test_a_reaped_child_lump_was_a_spike_and_is_now_left_out_of_the_trace(no_rapl):
    """A compiler child that ran 2 CPU-seconds unseen and was reaped at 1.0 s: old trace 1,700 W; now nothing."""
    times = [k * 0.05 for k in range(41)]
    clock = FakeClock()
    proc = TickingProcess(clock, own_cores=0.2)

    def reap_at_one_second(sampler):
        for t in times:
            clock.t = t
            if t >= 1.0 and not proc.reaped_s:
                proc.reaped_s = 2.0
            sampler.sample_once()
        return [s.watts for s in sampler.trace if s.source == "cpu"]
    assert max(reap_at_one_second(old_sampler(proc, clock))) > 1000
    clock.t, proc.reaped_s = 0.0, 0.0
    watts = reap_at_one_second(estimate_monitor(proc, clock).sampler)
    assert len(watts) == 8 and all(abs(w - watts_for(0.2)) <= ROUNDING_W for w in watts)


def test_a_live_child_is_drawn_while_it_runs_and_its_reaping_is_no_spike(no_rapl):
    """A child busy on one core from 0.5 s to 1.5 s, listed live, then reaped (its 1 s arrives as a lump)."""
    clock = FakeClock()
    proc = TickingProcess(clock, own_cores=0.2)
    child = FakeChild(42, lambda: min(max(clock() - 0.5, 0.0), 1.0))
    mon = estimate_monitor(proc, clock)
    for k in range(41):
        clock.t = k * 0.05
        proc.live = [child] if 0.5 <= clock.t < 1.5 else []
        proc.reaped_s = 1.0 if clock.t >= 1.5 else 0.0
        mon.sampler.sample_once()
    cpu = {round(s.t_s, 2): s.watts for s in mon.trace if s.source == "cpu"}
    assert cpu[1.0] == pytest.approx(watts_for(1.2), abs=ROUNDING_W)  # 0.75–1.0 s: the child and this process
    assert cpu[1.25] == pytest.approx(watts_for(1.2), abs=ROUNDING_W)
    assert cpu[2.0] == pytest.approx(watts_for(0.2), abs=ROUNDING_W)  # after the reaping: no spike, no dip
    assert all(0 <= w <= TDP_W for w in cpu.values())


def test_a_reading_above_the_ceiling_is_logged_as_a_bug_and_not_drawn(caplog):
    clock, joules = FakeClock(), [0.0]
    rules = TraceRules(cpu_window_s=0.25, cpu_ceiling_w=85.0, cpu_rounding_j=0.85)
    sampler = PowerSampler(lambda: None, lambda: joules[0], clock=clock, rules=rules)
    sampler.sample_once()
    clock.t, joules[0] = 0.25, 85.0 * 0.25 + 0.5  # over by rounding only: drawn at the ceiling
    assert [(s.watts, s.window_s) for s in sampler.sample_once()] == [(85.0, 0.25)]
    clock.t, joules[0] = 0.5, joules[0] + 100.0  # 400 W from an 85 W model
    with caplog.at_level(logging.WARNING, logger="asr_core.sampler"):
        assert sampler.sample_once() == []
    assert "above the 85 W its meter can report: a bug" in caplog.text
    clock.t, joules[0] = 0.75, joules[0] + 5.0
    assert [s.watts for s in sampler.sample_once()] == pytest.approx([20.0])  # the next window is drawn again


def test_a_reading_the_thread_was_held_up_around_neither_ends_nor_starts_a_window():
    """The clock read, then 100 ms lost before the CPU reading: its time is not known, so it is skipped."""
    clock = FakeClock()
    stalls = iter([0.0, 0.1, 0.0, 0.0])

    def joules():
        clock.advance(next(stalls))
        return 40.0 * clock()
    sampler = PowerSampler(lambda: None, joules, clock=clock, rules=TraceRules(cpu_window_s=0.25))
    drive(sampler, clock, [0.0, 0.25, 0.5, 0.75])
    cpu = [s for s in sampler.trace if s.source == "cpu"]
    assert [s.t_s for s in cpu] == pytest.approx([0.5, 0.75]) and [s.window_s for s in cpu] == pytest.approx([0.5, 0.25])
    assert [s.watts for s in cpu] == pytest.approx([40.0, 40.0])


def test_gpu_power_is_drawn_at_most_at_the_board_limit_and_marked_as_nvml_s_average(no_rapl, caplog):
    clock = FakeClock()
    mon = EnergyMonitor(gpu=FakeGpu(mj=None, watts=lambda t: 350.0, clock=clock, limit_w=300.0), clock=clock)
    mon.begin_window("run")
    with caplog.at_level(logging.WARNING, logger="asr_core.sampler"):
        drive(mon.sampler, clock, [0.05, 0.1, 0.15])
    clock.t = 0.2
    gpu = [s for s in mon.trace if s.source == "gpu"]
    assert {(s.watts, s.window_s) for s in gpu} == {(300.0, 1.0)}
    assert caplog.text.count("above the board's 300 W limit") == 1  # said once, not at every sample
    assert mon.end_window("run").gpu_energy_j == pytest.approx(350.0 * 0.2)  # the energy is NVML's, as read


def test_without_a_limit_gpu_power_is_drawn_as_read(no_rapl):
    clock = FakeClock()
    mon = EnergyMonitor(gpu=FakeGpu(mj=0, watts=lambda t: 350.0, clock=clock), clock=clock)
    assert [s.watts for s in mon.sampler.sample_once()] == [350.0]
    assert math.isinf(mon.sampler.rules.gpu_ceiling_w)
