"""Tests for asr_core.energy, .sampler and .carbon: fakes only at the device edge (NVML GPU, powercap
files, psutil process), and a fake clock wherever time matters, so no test counts on thread timing."""
from __future__ import annotations

import json
import math
import threading
import time
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import pytest

from asr_core import carbon, energy as energy_module, hardware, sampler as sampler_module
from asr_core.carbon import carbon_intensity_g_per_kwh, co2e_kg
from asr_core.energy import EnergyMonitor, Measurement, meter_status
from asr_core.hardware import CpuEstimator, DeviceUnavailable, Rapl
from asr_core.sampler import SAMPLE_INTERVAL_S, PowerSample, PowerSampler

WINDOW_S = 0.2


# --- fakes at the edge -----------------------------------------------------------------------------

class FakeClock:
    """Seconds that pass only when a test moves them on."""

    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


class ClockedStop:
    """Stands in for the sampler thread's stop event: each wait moves the fake clock on by its timeout
    instead of sleeping, and the loop ends once the clock reaches ``until``. So the loop's own
    scheduling runs in the test's thread, sample for sample."""

    def __init__(self, clock: FakeClock, until: float):
        self.clock, self.until = clock, until
        self.waits: list[float] = []

    def is_set(self) -> bool:
        return self.clock() >= self.until - 1e-9  # the clock is a sum of float intervals

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.clock.advance(max(timeout, 0.0))  # Event.wait returns at once for a timeout <= 0
        return self.is_set()


def run_sampler_loop(sampler: PowerSampler, clock: FakeClock, seconds: float, monkeypatch) -> ClockedStop:
    """Run the sampler thread's loop, in this thread, for ``seconds`` of fake time; the loop keeps its
    deadlines with the module's ``time.perf_counter``, so that is the fake clock here too."""
    monkeypatch.setattr(sampler_module, "time", SimpleNamespace(perf_counter=clock))
    stop = sampler._stop = ClockedStop(clock, clock() + seconds)
    sampler._run()
    return stop


class FakeGpu:
    """Stands in for hardware.NvmlGpu. ``mj`` is the energy counter (None: pre-Volta, no counter);
    ``watts(t)`` the power draw at ``clock()``; every power read's time is logged so tests know the
    sample points."""

    def __init__(self, mj: int | None = 0, watts=lambda t: 200.0, clock=time.perf_counter, limit_w: float | None = None):
        self.mj = mj
        self.watts = watts
        self.clock = clock
        self.limit_w = limit_w
        self.power_reads: list[float] = []

    def name(self) -> str:
        return "Fake GPU"

    def energy_mj(self) -> int | None:
        return self.mj

    def power_mw(self) -> int | None:
        t = self.clock()
        self.power_reads.append(t)
        return round(self.watts(t) * 1000)

    def power_limit_mw(self) -> int | None:
        return None if self.limit_w is None else round(self.limit_w * 1000)


class FakeRapl:
    """Stands in for hardware.Rapl: a package drawing a steady ``watts`` on the fake clock."""

    def __init__(self, watts: float, clock: FakeClock):
        self.watts, self.clock = watts, clock

    def energy_uj(self) -> int:
        return round(self.watts * self.clock() * 1e6)


CpuTimes = namedtuple("CpuTimes", "user system children_user children_system")


class FakeProcess:
    def __init__(self):
        self.times = CpuTimes(0.0, 0.0, 0.0, 0.0)

    def cpu_times(self) -> CpuTimes:
        return self.times


def write_zone(root: Path, dirname: str, name: str, energy_uj: int, max_uj: int = 262_143_328_850) -> None:
    zone = root / dirname
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "name").write_text(name + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")


def set_energy(root: Path, dirname: str, energy_uj: int) -> None:
    (root / dirname / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def powercap(tmp_path: Path) -> Path:
    """A /sys/class/powercap look-alike: one package with core/dram subzones, an MMIO duplicate, psys."""
    root = tmp_path / "powercap"
    (root / "intel-rapl").mkdir(parents=True)  # the control-type directory, not a zone
    write_zone(root, "intel-rapl:0", "package-0", 1_000_000)
    write_zone(root, "intel-rapl:0:0", "core", 1_000_000)
    write_zone(root, "intel-rapl:0:1", "dram", 1_000_000)
    write_zone(root, "intel-rapl-mmio:0", "package-0", 1_000_000)
    write_zone(root, "intel-rapl:1", "psys", 1_000_000)
    return root


@pytest.fixture
def no_rapl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make autodetection find no RAPL, so CPU-estimate tests behave the same on machines that have it."""
    monkeypatch.setattr(hardware, "POWERCAP_ROOT", tmp_path / "absent")


# --- GPU ---------------------------------------------------------------------------------------------

def test_gpu_counter_window_is_counter_delta(no_rapl):
    gpu = FakeGpu(mj=5_000)
    mon = EnergyMonitor(gpu=gpu)
    assert mon.sources["gpu"] == "nvml_counter"
    mon.begin_window("encoder")
    gpu.mj = 17_500
    m = mon.end_window("encoder")
    assert m.gpu_energy_j == pytest.approx(12.5)  # 12 500 mJ
    assert m.gpu_source == "nvml_counter"
    assert m.name == "encoder" and m.time_s >= 0


def test_gpu_without_counter_integrates_constant_power(no_rapl, monkeypatch):
    clock = FakeClock()
    mon = EnergyMonitor(gpu=FakeGpu(mj=None, watts=lambda t: 200.0, clock=clock), clock=clock)
    assert mon.sources["gpu"] == "nvml_power"
    mon.begin_window("run")
    run_sampler_loop(mon.sampler, clock, WINDOW_S, monkeypatch)
    m = mon.end_window("run")
    assert m.gpu_source == "nvml_power"
    assert m.time_s == pytest.approx(WINDOW_S)
    assert m.gpu_energy_j == pytest.approx(200.0 * WINDOW_S)


def test_gpu_power_integration_uses_samples_inside_window(no_rapl):
    """A 100 W -> 300 W step at 0.12 s of a 0.2 s window: the begin/end reads alone would give
    200 W x 0.2 s = 40 J; the sampler's points at 0.05, 0.10 and 0.15 s bring the trapezoid to 35 J."""
    clock = FakeClock()
    gpu = FakeGpu(mj=None, watts=lambda t: 100.0 if t < 0.12 else 300.0, clock=clock)
    mon = EnergyMonitor(gpu=gpu, clock=clock)
    gpu.power_reads.clear()  # the monitor's probe for a power reading at construction
    mon.begin_window("run")
    for _ in range(3):
        clock.advance(0.05)
        mon.sampler.sample_once()
    clock.advance(0.05)
    m = mon.end_window("run")
    assert gpu.power_reads == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20])  # begin, 3 samples, end
    # 0.05 x (100 + 100 + 200 + 300): the 0.10 -> 0.15 s trapezoid straddles the step
    assert m.gpu_energy_j == pytest.approx(35.0)


def test_no_gpu_requested_is_unavailable(no_rapl):
    mon = EnergyMonitor(gpu_index=None)
    mon.begin_window("w")
    m = mon.end_window("w")
    assert mon.sources["gpu"] == "unavailable"
    assert math.isnan(m.gpu_energy_j) and m.gpu_source == "unavailable"
    assert m.energy_source == "estimate" and m.energy_j == m.cpu_energy_j


def _nvml_loads() -> bool:
    try:
        hardware.NvmlGpu(0)
        return True
    except DeviceUnavailable:
        return False


@pytest.mark.skipif(_nvml_loads(), reason="this machine has a readable NVIDIA GPU")
def test_real_gpu_autodetect_falls_back_silently():
    mon = EnergyMonitor(gpu_index=0)
    mon.begin_window("w")
    m = mon.end_window("w")
    assert mon.sources["gpu"] == "unavailable" and math.isnan(m.gpu_energy_j)
    assert m.cpu_source in ("rapl", "estimate") and m.cpu_energy_j >= 0


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch):
    """Patch pynvml's entry points: one GPU whose energy counter is not supported (pre-Volta)."""
    import pynvml
    monkeypatch.setattr(hardware, "_nvml_ready", False)
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 1)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: f"handle{i}")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: b"Tesla P100")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerUsage", lambda h: 150_000)

    def no_counter(handle):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", no_counter)
    return pynvml


def test_nvml_gpu_without_counter(fake_nvml, no_rapl):
    gpu = hardware.NvmlGpu(0)
    assert gpu.name() == "Tesla P100"
    assert gpu.energy_mj() is None and gpu.power_mw() == 150_000
    with pytest.raises(DeviceUnavailable, match="no GPU with index 3"):
        hardware.NvmlGpu(3)
    assert EnergyMonitor(gpu_index=0).sources["gpu"] == "nvml_power"
    counter, power = meter_status(0)[:2]
    assert not counter.available and "Volta" in counter.reason
    assert power.available and "Tesla P100" in power.detail


# --- RAPL --------------------------------------------------------------------------------------------

def test_rapl_counts_package_and_dram_only(powercap):
    rapl = Rapl(powercap)
    assert sorted(z.name for z in rapl.zones) == ["dram", "package-0"]
    mon = EnergyMonitor(rapl=rapl)
    assert mon.sources == {"gpu": "unavailable", "cpu": "rapl"}
    mon.begin_window("w")
    set_energy(powercap, "intel-rapl:0", 4_000_000)  # package +3 J
    set_energy(powercap, "intel-rapl:0:0", 3_000_000)  # core +2 J: inside the package, not added
    set_energy(powercap, "intel-rapl:0:1", 1_500_000)  # dram +0.5 J
    set_energy(powercap, "intel-rapl-mmio:0", 9_000_000)  # duplicate of the package
    set_energy(powercap, "intel-rapl:1", 50_000_000)  # psys: whole platform, would double count
    m = mon.end_window("w")
    assert m.cpu_source == "rapl"
    assert m.cpu_energy_j == pytest.approx(3.5)
    assert m.energy_source == "rapl"


def test_rapl_wraparound(tmp_path):
    max_uj = 10_000_000
    write_zone(tmp_path, "intel-rapl:0", "package-0", max_uj - 1_000_000, max_uj)
    mon = EnergyMonitor(rapl=Rapl(tmp_path))
    mon.begin_window("w")
    set_energy(tmp_path, "intel-rapl:0", 2_000_000)  # wrapped past max_uj
    assert mon.end_window("w").cpu_energy_j == pytest.approx(3.0)


def test_amd_rapl_zone_is_read(tmp_path):
    write_zone(tmp_path, "amd-rapl:0", "package-0", 0)
    rapl = Rapl(tmp_path)
    set_energy(tmp_path, "amd-rapl:0", 250_000)
    assert rapl.energy_uj() == 250_000


def test_unreadable_rapl_falls_back_to_estimate(powercap, monkeypatch):
    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(hardware, "POWERCAP_ROOT", powercap)
    monkeypatch.setattr(hardware, "_read_int", denied)
    with pytest.raises(DeviceUnavailable, match="permission denied reading energy_uj"):
        Rapl()
    mon = EnergyMonitor()
    assert mon.sources["cpu"] == "estimate"
    mon.begin_window("w")
    m = mon.end_window("w")
    assert m.cpu_source == "estimate" and m.energy_source == "estimate"
    rapl_info = next(i for i in meter_status(None) if i.name == "RAPL")
    assert not rapl_info.available and "root needed" in rapl_info.reason


def test_missing_powercap_reason(no_rapl):
    with pytest.raises(DeviceUnavailable, match="not present"):
        Rapl()


# --- CPU estimate ------------------------------------------------------------------------------------

def test_cpu_estimate_is_tdp_times_cpu_share(no_rapl):
    proc = FakeProcess()
    proc.times = CpuTimes(1.0, 0.5, 0.0, 0.0)
    mon = EnergyMonitor(cpu_estimator=CpuEstimator(tdp_w=100.0, process=proc, n_cores=4))
    mon.begin_window("w")
    proc.times = CpuTimes(2.5, 1.0, 0.5, 0.5)  # +3 CPU-seconds, children included
    m = mon.end_window("w")
    assert m.cpu_source == "estimate"
    assert m.cpu_energy_j == pytest.approx(100.0 * 3.0 / 4)


def test_energy_windows_keep_their_joules_while_the_trace_leaves_the_reaped_lump_out(no_rapl):
    """The same CPU-time inputs as before: a window's estimate is tdp x (own + reaped children's) CPU seconds /
    cores, whatever the power trace draws; the 2 s lump a child leaves when it is reaped is in the total."""
    from meter_fakes import N_CORES, TDP_W, TICK_S, TickingProcess, ticks
    clock = FakeClock()
    proc = TickingProcess(clock, own_cores=0.5)
    mon = EnergyMonitor(cpu_estimator=CpuEstimator(TDP_W, process=proc, n_cores=N_CORES, tick_s=TICK_S), clock=clock)
    mon.begin_window("run")
    for k in range(1, 41):
        clock.t = k * 0.05
        proc.reaped_s = 2.0 if clock.t >= 1.0 else 0.0
        mon.sampler.sample_once()
    m = mon.end_window("run")
    assert m.cpu_energy_j == pytest.approx(TDP_W * (ticks(0.5 * 2.0) + 2.0) / N_CORES)  # 85 J
    assert max(s.watts for s in mon.trace) <= TDP_W


def test_cpu_estimate_real_process(no_rapl):
    mon = EnergyMonitor()
    mon.begin_window("busy")
    end = time.perf_counter() + WINDOW_S
    while time.perf_counter() < end:
        sum(range(1000))
    m = mon.end_window("busy")
    assert m.cpu_source == "estimate"
    # one busy thread: more than nothing, at most the whole package for the window (+ a clock tick)
    assert 0 < m.cpu_energy_j <= hardware.CPU_TDP_W_DEFAULT * (m.time_s + 0.05)


# --- windows, trace, memory --------------------------------------------------------------------------

def test_nested_windows_keep_their_own_begin(no_rapl):
    gpu = FakeGpu(mj=0)
    mon = EnergyMonitor(gpu=gpu)
    mon.begin_window("run")
    mon.begin_window("encoder")
    gpu.mj = 1_000
    enc = mon.end_window("encoder")
    mon.begin_window("decoder")
    gpu.mj = 3_000
    dec = mon.end_window("decoder")
    gpu.mj = 3_500
    run = mon.end_window("run")
    assert (enc.gpu_energy_j, dec.gpu_energy_j, run.gpu_energy_j) == pytest.approx((1.0, 2.0, 3.5))
    assert run.time_s >= enc.time_s + dec.time_s
    with pytest.raises(ValueError, match="never begun"):
        mon.end_window("run")
    mon.begin_window("x")
    with pytest.raises(ValueError, match="already open"):
        mon.begin_window("x")


def test_trace_has_both_sources_at_the_interval(monkeypatch):
    """The monitor's default interval, kept by the sampler loop: samples every SAMPLE_INTERVAL_S, so a
    short window (WINDOW_S) still has a few power samples inside it to integrate."""
    clock, seen = FakeClock(), []
    mon = EnergyMonitor(gpu=FakeGpu(mj=0, clock=clock), rapl=FakeRapl(30.0, clock), on_sample=seen.append,
                        clock=clock)
    stop = run_sampler_loop(mon.sampler, clock, WINDOW_S, monkeypatch)
    trace = mon.trace
    gpu = [s for s in trace if s.source == "gpu"]
    cpu = [s for s in trace if s.source == "cpu"]
    steps = [k * SAMPLE_INTERVAL_S for k in range(round(WINDOW_S / SAMPLE_INTERVAL_S))]
    assert [s.t_s for s in gpu] == pytest.approx(steps) and {s.watts for s in gpu} == {200.0}
    # CPU watts are the derivative of the RAPL joules, so they start at the second reading
    assert [s.t_s for s in cpu] == pytest.approx(steps[1:])
    assert [s.watts for s in cpu] == pytest.approx([30.0] * len(steps[1:]))
    assert stop.waits == pytest.approx([SAMPLE_INTERVAL_S] * len(steps))
    assert len(mon.sampler.gpu_between(0.0, WINDOW_S)) >= 3  # what the short interval is for
    assert seen == trace


def test_a_slow_read_delays_the_next_sample_without_a_burst(monkeypatch):
    """A read that overruns the interval pushes the schedule back; the loop must not fire the missed
    samples back to back to catch up (they would all carry the same time)."""
    clock = FakeClock()

    def gpu_w():
        if clock() == 0.0:
            clock.advance(0.12)  # the first read hangs for more than two intervals
        return 200.0
    sampler = PowerSampler(gpu_w, lambda: math.nan, 0.05, clock=clock)
    run_sampler_loop(sampler, clock, 0.25, monkeypatch)
    assert [s.t_s for s in sampler.trace] == pytest.approx([0.0, 0.12, 0.17, 0.22])


def test_sampler_thread_starts_once_samples_and_stops(no_rapl):
    """The one test on the real thread: no timing is asserted, only that it runs and is joined."""
    threads, sampled = set(), threading.Event()

    def on_sample(sample: PowerSample) -> None:
        threads.add(threading.current_thread())
        sampled.set()
    mon = EnergyMonitor(gpu=FakeGpu(mj=0), interval_s=0.01, on_sample=on_sample)
    mon.start()
    mon.start()  # idempotent: still one thread
    try:
        assert sampled.wait(10)  # bounded, and generous for a busy machine
    finally:
        mon.stop()
    n = len(mon.trace)
    assert n >= 1 and all(s.watts == 200.0 for s in mon.trace if s.source == "gpu")
    assert len(threads) == 1 and not next(iter(threads)).is_alive()  # joined: nothing can sample after stop
    assert len(mon.trace) == n
    mon.stop()  # stopping twice is harmless


# --- Measurement -------------------------------------------------------------------------------------

def test_measurement_totals_are_nan_safe():
    both = Measurement("w", 2.0, 10.0, "nvml_counter", 4.0, "rapl")
    assert both.energy_j == 14.0 and both.energy_source == "nvml_counter+rapl"
    assert both.mean_power_w == 7.0
    cpu_only = Measurement("w", 1.0, math.nan, "unavailable", 2.0, "estimate")
    assert cpu_only.energy_j == 2.0 and cpu_only.energy_source == "estimate"
    est = Measurement("w", 1.0, 5.0, "nvml_counter", 2.0, "estimate")
    assert est.energy_source == "nvml_counter+estimate"
    neither = Measurement("w", 1.0, math.nan, "unavailable", math.nan, "unavailable")
    assert math.isnan(neither.energy_j) and neither.energy_source == "unavailable"


# --- meter_status ------------------------------------------------------------------------------------

def test_meter_status_reports_every_meter_without_raising(monkeypatch):
    infos = meter_status(0)
    assert [i.name for i in infos] == ["NVML energy counter", "NVML power", "RAPL", "CPU estimate"]
    assert infos[-1].available and "W" in infos[-1].detail

    def unavailable(*args):
        raise DeviceUnavailable("no NVIDIA driver here")

    def broken(*args):
        raise RuntimeError("the driver crashed")
    monkeypatch.setattr(energy_module, "NvmlGpu", unavailable)
    monkeypatch.setattr(energy_module, "Rapl", broken)
    counter, power, rapl, estimate = meter_status(0)  # every missing meter says why, and nothing raises
    assert [(m.available, m.reason) for m in (counter, power)] == [(False, "no NVIDIA driver here")] * 2
    assert (rapl.available, rapl.reason) == (False, "unexpected RAPL failure: the driver crashed")
    assert estimate.available


@pytest.mark.skipif(_nvml_loads(), reason="this machine has a readable NVIDIA GPU")
def test_meter_status_nvml_unavailable_here():
    counter, power = meter_status(0)[:2]
    assert not counter.available and not power.available
    assert "NVIDIA" in counter.reason or "NVML" in counter.reason or "GPU" in counter.reason


def test_meter_status_cpu_run():
    counter, power = meter_status(None)[:2]
    assert not counter.available and counter.reason == "no GPU requested (CPU run)"


# --- CO2e --------------------------------------------------------------------------------------------

def _codecarbon_intensity(iso: str) -> float:
    import importlib.util
    root = Path(next(iter(importlib.util.find_spec("codecarbon").submodule_search_locations)))
    mix = json.loads((root / "data/private_infra/global_energy_mix.json").read_text())
    return mix[iso]["carbon_intensity"]


def test_co2e_converts_joules_to_kwh(monkeypatch):
    """A made-up grid of 400 g/kWh: 3.6 MJ is one kWh (1000 W x 3600 s), so 0.4 kg."""
    monkeypatch.setattr(carbon, "_energy_mix", lambda: {"TST": {"carbon_intensity": 400.0}})
    assert co2e_kg(3.6e6, "tst") == pytest.approx(0.4)
    assert co2e_kg(1000 * 3600 * 2.5, "TST") == pytest.approx(1.0)
    assert co2e_kg(1800.0, "TST") == pytest.approx(0.2e-3)  # 0.5 Wh -> 0.2 g


@pytest.mark.parametrize("iso", ["USA", "FRA"])
def test_co2e_is_kwh_times_grid_intensity(iso):
    g_per_kwh = _codecarbon_intensity(iso)
    assert carbon_intensity_g_per_kwh(iso) == g_per_kwh
    assert co2e_kg(3.6e6, iso) == pytest.approx(g_per_kwh / 1000)  # 1 kWh -> kg
    assert co2e_kg(1800.0, iso) == pytest.approx(0.5e-3 * g_per_kwh / 1000)  # 0.5 Wh
    assert co2e_kg(3.6e6, iso) > 0


def test_co2e_unknown_country_and_missing_data(monkeypatch):
    with pytest.raises(ValueError, match="ISO 3166"):
        co2e_kg(1.0, "XXX")
    assert math.isnan(co2e_kg(math.nan))
    carbon._energy_mix.cache_clear()
    monkeypatch.setattr(carbon, "ENERGY_MIX_FILE", "no/such/file.json")
    try:
        assert math.isnan(co2e_kg(3.6e6, "USA"))
    finally:
        carbon._energy_mix.cache_clear()


def test_cpu_load_counts_other_processes_only():
    class Clock:
        t = 0.0

        def __call__(self):
            return self.t
    clock, own = Clock(), namedtuple("T", "user system")(1.0, 0.0)

    class Proc:
        def cpu_times(self):
            return own
    busy = iter([100.0, 100.0 + 1.5])  # system busy seconds at the snapshot and at the reading
    import asr_core.hardware as hw
    real = hw._system_busy_s
    hw._system_busy_s = lambda: next(busy)
    try:
        load = hw.CpuLoad(process=Proc(), clock=clock)
        load.n_cores = 2
        own = namedtuple("T", "user system")(1.5, 0.0)  # this process used 0.5 s of the 1.5 busy seconds
        clock.t = 1.0
        assert load.others_pct() == pytest.approx(100 * 1.0 / (1.0 * 2))
    finally:
        hw._system_busy_s = real
