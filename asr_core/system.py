"""What machine and software a result was measured on (provenance)."""
from __future__ import annotations

import datetime as dt
import functools
import platform
import socket
import subprocess
from pathlib import Path

import psutil


@functools.cache
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name(device: str = "cuda") -> str:
    import torch
    if device != "cuda" or not torch.cuda.is_available():
        return ""
    return torch.cuda.get_device_name(0)


@functools.cache
def versions() -> dict[str, str]:
    import torch
    import transformers
    return {"torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version()}


@functools.cache
def package_version(name: str) -> str:
    """'name version' of an installed package, for the notes of a result measured with it."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return f"{name} not installed"


@functools.cache
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


@functools.cache
def host_name() -> str:
    """This machine's name, recorded in every sweep row so sweeps from several machines can be told apart."""
    return socket.gethostname()


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def hardware_summary() -> dict[str, str | int | float]:
    """CPU, cores, memory and GPU, for the app's Home page and sweep provenance."""
    import torch
    info: dict[str, str | int | float] = {
        "cpu": cpu_name(), "logical_cores": psutil.cpu_count() or 0,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": gpu_name(), "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    return info
