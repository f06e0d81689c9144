"""The hardware edge: NVML for the GPU, RAPL (powercap sysfs) and psutil for the CPU.

Everything that touches a driver or ``/sys`` lives here, in three small classes that ``energy.py``
reads as cumulative energy counters, and ``NullGpu``, the GPU that is not there. Tests fake exactly these
edges. Constructors raise ``DeviceUnavailable`` with a plain-words reason when the hardware cannot be read;
nothing else here raises for missing hardware.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import psutil

POWERCAP_ROOT = Path("/sys/class/powercap")
# Top-level zones are "intel-rapl:N"; subzones "intel-rapl:N:M". "intel-rapl-mmio:N" duplicates the
# package counter through MMIO, so it is deliberately not matched.
RAPL_ZONE_RE = re.compile(r"^(intel|amd)-rapl:\d+(:\d+)?$")
# Assumed CPU package power (W) with every logical core busy. 85 W is CodeCarbon's fallback TDP for a
# CPU it cannot identify (codecarbon.external.hardware.POWER_CONSTANT); it is a guess, which is why
# anything computed from it is labelled "estimate".
CPU_TDP_W_DEFAULT = 85.0
MIN_LOAD_WINDOW_S = 0.1  # a shorter window gives noise, not a load figure
# The clock the CPU estimate reads: the kernel reports CPU time in ticks of 1/SC_CLK_TCK s (10 ms on Linux), user and
# system each rounded down, so one reading is off by up to ROUNDING_TICKS ticks. Differenced over a 5 ms gap, one
# tick is a spike far above anything the model can give; so a power-trace point of the estimate averages over
# at least MIN_TRACE_WINDOW_S, and long enough that this rounding moves it by at most STABLE_FRACTION of its ceiling.
CPU_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 1 / 64  # Windows: its 15.6 ms timer
ROUNDING_TICKS = 2
MIN_TRACE_WINDOW_S = 0.25
STABLE_FRACTION = 0.05
# nvmlDeviceGetPowerUsage averages over 1 s on Ampere (but GA100) and newer; older GPUs report instantaneous power
# (NVML API reference, nvmlDeviceGetPowerUsage).
NVML_POWER_AVERAGE_S = 1.0


class DeviceUnavailable(RuntimeError):
    """A meter cannot be read here; the message says why in plain words."""


# --- NVML -------------------------------------------------------------------------------------

_nvml_lock = threading.Lock()
_nvml_ready = False


def _nvml() -> Any:
    """Import and initialise NVML once per process (left initialised, as zeus does)."""
    global _nvml_ready
    try:
        import pynvml
    except ImportError as e:
        raise DeviceUnavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from e
    with _nvml_lock:
        if not _nvml_ready:
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError as e:
                raise DeviceUnavailable(_nvml_reason(pynvml, e)) from e
            _nvml_ready = True
    return pynvml


def _nvml_reason(pynvml: Any, e: Exception) -> str:
    reasons = {
        "NVMLError_LibraryNotFound": "no NVIDIA driver (libnvidia-ml not found)",
        "NVMLError_DriverNotLoaded": "the NVIDIA driver is not loaded",
        "NVMLError_NoPermission": "NVML denied permission to read the GPU",
        "NVMLError_NotSupported": "not supported by this GPU or driver",
        "NVMLError_GpuIsLost": "the GPU has fallen off the bus",
    }
    return reasons.get(type(e).__name__, f"NVML error: {e}")


class NvmlGpu:
    """One NVIDIA GPU read through NVML."""

    def __init__(self, index: int = 0):
        """The GPU that CUDA calls device ``index`` (found by its UUID, so CUDA_VISIBLE_DEVICES — as Ray sets
        it for a task — is honoured; NVML's own numbering ignores it); NVML's index when CUDA cannot say."""
        self._nvml = _nvml()
        try:
            count = self._nvml.nvmlDeviceGetCount()
        except self._nvml.NVMLError as e:
            raise DeviceUnavailable(_nvml_reason(self._nvml, e)) from e
        if not 0 <= index < count:
            raise DeviceUnavailable(f"no GPU with index {index} (NVML sees {count})")
        self.index = index
        uuid = _cuda_uuid(index)
        try:
            self._handle = (self._nvml.nvmlDeviceGetHandleByUUID(uuid) if uuid
                            else self._nvml.nvmlDeviceGetHandleByIndex(index))
        except self._nvml.NVMLError as e:
            raise DeviceUnavailable(_nvml_reason(self._nvml, e)) from e
        self._has_counter = True

    def name(self) -> str:
        name = self._nvml.nvmlDeviceGetName(self._handle)
        return name.decode() if isinstance(name, bytes) else str(name)

    def energy_mj(self) -> int | None:
        """Cumulative energy since the driver loaded, in millijoules; None before Volta."""
        if not self._has_counter:
            return None
        try:
            return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except self._nvml.NVMLError_NotSupported:
            self._has_counter = False
            return None
        except self._nvml.NVMLError:
            return None

    def power_mw(self) -> int | None:
        """Board power draw in milliwatts (on Ampere and newer, averaged over about 1 s)."""
        try:
            return int(self._nvml.nvmlDeviceGetPowerUsage(self._handle))
        except self._nvml.NVMLError:
            return None

    def power_limit_mw(self) -> int | None:
        """The power limit the driver enforces on the board, in milliwatts; None where NVML cannot say."""
        try:
            return int(self._nvml.nvmlDeviceGetEnforcedPowerLimit(self._handle))
        except self._nvml.NVMLError:
            return None


class NullGpu:
    """No GPU to read (a CPU run, or NVML unavailable): every reading is missing, as on a GPU without that sensor."""

    def name(self) -> str:
        return ""

    def energy_mj(self) -> None:
        return None

    def power_mw(self) -> None:
        return None

    def power_limit_mw(self) -> None:
        return None


def _cuda_uuid(index: int) -> str | None:
    """NVML's UUID ("GPU-…") of CUDA device index, or None without a usable torch/CUDA."""
    try:
        import torch
        if not torch.cuda.is_available():
            return None
        uuid = str(torch.cuda.get_device_properties(index).uuid)
    except Exception:  # noqa: BLE001 - an old torch without .uuid, a driver error: fall back to NVML's index
        return None
    return uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"


# --- RAPL -------------------------------------------------------------------------------------

def _read_int(path: Path) -> int:
    with open(path) as f:
        return int(f.read().strip())


class RaplZone:
    """One powercap zone: a wrapping microjoule counter folded into a monotonic total."""

    def __init__(self, path: Path, name: str):
        self.path = path
        self.name = name
        self.max_uj = _read_int(path / "max_energy_range_uj")
        self._last = _read_int(path / "energy_uj")
        self._total = 0

    def energy_uj(self) -> int:
        """Microjoules since this object was made; one wrap between two reads is undone."""
        raw = _read_int(self.path / "energy_uj")
        delta = raw - self._last
        if delta < 0:
            delta += self.max_uj
        self._last = raw
        self._total += delta
        return self._total


class Rapl:
    """The CPU package (and DRAM, where exposed) RAPL counters under ``/sys/class/powercap``.

    Counted: top-level ``package-*`` zones, plus ``dram`` zones (outside the package). Not counted:
    ``core``/``uncore`` subzones (already inside their package) and ``psys`` (the whole platform,
    package included). The counters wrap at ``max_energy_range_uj`` (about 262 kJ, i.e. ~20 min at
    200 W); reading at least that often, as the monitor's sampler does, keeps the total exact.
    """

    def __init__(self, root: Path | str | None = None):
        root = Path(root) if root is not None else POWERCAP_ROOT
        if not root.is_dir():
            raise DeviceUnavailable(f"{root} not present (no powercap/RAPL support here)")
        self.zones: list[RaplZone] = []
        for path in sorted(root.iterdir()):
            if not RAPL_ZONE_RE.match(path.name):
                continue
            name = _zone_name(path)
            top_level = path.name.count(":") == 1
            if (top_level and name.startswith("package")) or name == "dram":
                self.zones.append(_open_zone(path, name))
        if not self.zones:
            raise DeviceUnavailable(f"no RAPL package zones under {root}")
        self._lock = threading.Lock()  # the sampler thread and window ends both read

    def energy_uj(self) -> int:
        """Total microjoules over the counted zones since this object was made."""
        with self._lock:
            return sum(z.energy_uj() for z in self.zones)


def _zone_name(path: Path) -> str:
    try:
        return (path / "name").read_text().strip()
    except OSError:
        return ""


def _open_zone(path: Path, name: str) -> RaplZone:
    try:
        return RaplZone(path, name)
    except PermissionError as e:
        raise DeviceUnavailable("permission denied reading energy_uj (root needed)") from e
    except (OSError, ValueError) as e:
        raise DeviceUnavailable(f"cannot read RAPL zone {path.name}: {e}") from e


# --- CPU estimate -----------------------------------------------------------------------------

class CpuEstimator:
    """Modelled CPU energy: ``tdp_w`` x this process's share of the machine's logical cores.

    Assumes the package draws ``tdp_w`` with all logical cores busy and nothing when idle, and
    charges this process (and its waited-for children) in proportion to the CPU seconds it used.
    Idle/static power and other processes are ignored, so this is a rough attribution, not a
    measurement.
    """

    def __init__(self, tdp_w: float = CPU_TDP_W_DEFAULT, process: Any = None, n_cores: int | None = None,
                 tick_s: float = CPU_TICK_S):
        self.tdp_w = float(tdp_w)
        self._process = process if process is not None else psutil.Process(os.getpid())
        self.n_cores = n_cores or psutil.cpu_count(logical=True) or 1
        self.tick_s = tick_s
        self._children = LiveChildren(self._process)

    def cpu_seconds(self) -> float:
        return _process_s(self._process)

    def energy_j(self) -> float:
        """Cumulative estimated joules since the process started."""
        return self.tdp_w * self.cpu_seconds() / self.n_cores

    def trace_energy_j(self) -> float:
        """Cumulative estimated joules for the power trace: this process's threads and its live children, as each
        runs. Children's time that the kernel adds in one lump when they are reaped (energy_j counts it, so
        windows do) is left out: drawn, it would be a spike in the moment of reaping, not the power of its work."""
        t = self._process.cpu_times()
        return self.tdp_w * (t.user + t.system + self._children.seconds()) / self.n_cores

    @property
    def ceiling_w(self) -> float:
        """The most the model can give: every logical core busy."""
        return self.tdp_w

    @property
    def rounding_j(self) -> float:
        """How far one reading's rounding to clock ticks can move the estimate, in joules."""
        return self.tdp_w * ROUNDING_TICKS * self.tick_s / self.n_cores

    @property
    def trace_window_s(self) -> float:
        """The shortest span a power-trace point of the estimate should average over (see STABLE_FRACTION)."""
        return max(MIN_TRACE_WINDOW_S, self.rounding_j / (STABLE_FRACTION * self.ceiling_w))


class LiveChildren:
    """CPU seconds of a process's live descendants, read as they run (``psutil`` lists them and reads each).

    A child that has gone keeps what was last seen of it; its last stretch, run after that reading, reaches the
    parent only in the lump the kernel adds when the child is reaped, which this leaves out.
    """

    def __init__(self, process: Any):
        self._process = process
        self._last: dict[int, float] = {}
        self._gone_s = 0.0

    def seconds(self) -> float:
        now = {}
        try:
            children = self._process.children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            try:
                t = child.cpu_times()
            except psutil.Error:  # it ended between the listing and the read
                continue
            now[child.pid] = t.user + t.system
        # a child no longer listed, or a new process that took a gone one's id, ends what was seen of the old one
        self._gone_s += sum(s for pid, s in self._last.items() if now.get(pid, -1.0) < s)
        self._last = now
        return self._gone_s + sum(now.values())


# --- other work on the CPU ----------------------------------------------------------------------------

class CpuLoad:
    """How busy the machine's CPUs were with *other* processes' work since this snapshot.

    System busy time (psutil.cpu_times: everything but idle and iowait) minus this process's CPU time, over
    the wall time x logical cores. A live figure is trustworthy only when this stays low.
    """

    def __init__(self, process: Any = None, clock: Any = None):
        import time
        self._clock = clock or time.monotonic
        self._process = process if process is not None else psutil.Process(os.getpid())
        self._t, self._busy, self._own = self._clock(), _system_busy_s(), _process_s(self._process)
        self.n_cores = psutil.cpu_count(logical=True) or 1

    def others_pct(self) -> float:
        """Percent of all cores that other processes kept busy since the snapshot (nan when too short)."""
        wall = self._clock() - self._t
        if wall < MIN_LOAD_WINDOW_S:
            return float("nan")
        others = (_system_busy_s() - self._busy) - (_process_s(self._process) - self._own)
        return max(0.0, min(100.0, 100.0 * others / (wall * self.n_cores)))


def _system_busy_s() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


def _process_s(process: Any) -> float:
    t = process.cpu_times()
    return t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
