"""The hardware table (``precomputed/hardware.csv``): each device's dense peak FLOP/s per precision, memory
bandwidth, board and idle power, and where each figure was read (or, for ``this-cpu``, how it was measured).

The cost model (``costmodel``) projects on these rows. A precision a device lacks is empty and named in
``lacks``; one no source gives is empty too, and asking for either is refused with one sentence.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .hardware import CPU_TDP_W_DEFAULT
from .errors import ModelError

ROOT = Path(__file__).resolve().parents[1]
HARDWARE_CSV = ROOT / "precomputed" / "hardware.csv"
THIS_CPU = "this-cpu"
GPU, CPU = "gpu", "cpu"
TERA = 1e12
GIGA = 1e9
PEAK_COLUMNS = {"fp32": "fp32_tflops", "tf32": "tf32_tflops", "fp16": "fp16_tflops", "bf16": "bf16_tflops",
                "int8": "int8_tops"}
HARDWARE_COLUMNS = ("hardware_id", "name", "kind", *PEAK_COLUMNS.values(), "memory_gb_s", "board_power_w",
                    "idle_power_w", "lacks", "source_title", "source_url", "source_date", "read_in", "read_on", "note")
# The hardware peak a model precision's matrix products run at: CTranslate2's int8 types and ggml's blocks
# multiply in int8 (falling back to fp32 on a CPU without an int8 figure).
COMPUTE_PRECISION = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "int8": "int8", "int8_fp16": "int8",
                     "q8_0": "int8", "q5_1": "int8"}
MAIN_PRECISIONS = ("fp32", "fp16", "bf16", "int8")  # what a refusal suggests instead
PROVISIONAL = "provisional"  # a this-cpu row measured while other work loaded the machine says so in its note


class ProjectionError(ModelError):
    """A projection that cannot be made as asked; the message says what to change (CLI: exit 2)."""


class HardwareTableError(ValueError):
    """The hardware table is malformed; one sentence per problem."""


# --- the hardware table -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hardware:
    """One device: dense peaks per precision (FLOP/s), memory bandwidth, board and idle power, and its source."""
    hardware_id: str
    name: str
    kind: str
    peak_flops: dict[str, float] = field(compare=False)
    memory_bytes_s: float
    board_power_w: float
    idle_power_w: float
    lacks: tuple[str, ...]
    source: str
    note: str = ""

    @property
    def provisional(self) -> bool:
        return PROVISIONAL in self.note

    def peak(self, precision: str) -> float:
        """Peak FLOP/s for a model precision; a CPU without that figure computes in fp32."""
        hw_precision = COMPUTE_PRECISION[precision]
        if hw_precision in self.peak_flops:
            return self.peak_flops[hw_precision]
        if self.kind == CPU and "fp32" in self.peak_flops:
            return self.peak_flops["fp32"]
        raise ProjectionError(self.precision_problem(precision))

    def precision_problem(self, precision: str) -> str:
        hw_precision = COMPUTE_PRECISION.get(precision, precision)
        usable = [p for p in MAIN_PRECISIONS if p in self.peak_flops]
        instead = f"use --precision {', '.join(usable)}" if usable else "pick another device"
        if hw_precision in self.lacks:
            return (f"The {self.name} has no {hw_precision} support, so {precision} cannot be projected on it: "
                    f"{instead}.")
        return (f"The hardware table has no {hw_precision} peak for the {self.name} (no source opened gives one), so "
                f"{precision} cannot be projected on it: {instead}.")


def _number(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def load_hardware(path: str | os.PathLike = HARDWARE_CSV) -> dict[str, Hardware]:
    """The hardware table, checked; HardwareTableError with one sentence per problem."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    problems = check_hardware(raw, Path(path).name)
    if problems:
        raise HardwareTableError(" ".join(problems))
    out = {}
    for row in raw.to_dict("records"):
        peaks = {p: _number(row[c]) * TERA for p, c in PEAK_COLUMNS.items() if math.isfinite(_number(row[c]))}
        board = _number(row["board_power_w"])
        out[row["hardware_id"]] = Hardware(
            row["hardware_id"], row["name"], row["kind"], peaks, _number(row["memory_gb_s"]) * GIGA,
            CPU_TDP_W_DEFAULT if row["kind"] == CPU and math.isnan(board) else board, _number(row["idle_power_w"]),
            tuple(row["lacks"].split()), row["source_title"], row["note"])
    return out


def check_hardware(raw: pd.DataFrame, name: str = "hardware table") -> list[str]:
    """Sentences naming each problem of a hardware table (empty when it is usable)."""
    missing = [c for c in HARDWARE_COLUMNS if c not in raw.columns]
    if missing:
        return [f"{name} lacks the column(s) {', '.join(missing)}."]
    problems = []
    if raw["hardware_id"].duplicated().any():
        problems.append(f"{name} names {raw.loc[raw['hardware_id'].duplicated(), 'hardware_id'].iloc[0]} twice.")
    for i, row in enumerate(raw.to_dict("records"), start=2):
        where = f"{name} line {i} ({row['hardware_id'] or 'no id'})"
        if row["kind"] not in (CPU, GPU):
            problems.append(f"{where}: kind must be cpu or gpu, not {row['kind']!r}.")
        for col in (*PEAK_COLUMNS.values(), "memory_gb_s", "board_power_w", "idle_power_w"):
            if row[col].strip() and not _number(row[col]) > 0:
                problems.append(f"{where}: {col} must be a positive number or empty, not {row[col]!r}.")
        if not _number(row["memory_gb_s"]) > 0:
            problems.append(f"{where}: memory_gb_s is needed (the bandwidth every projection uses).")
        if not (row["source_title"].strip() and (row["source_url"].strip() or row["read_in"].strip())):
            problems.append(f"{where}: every figure needs its source (source_title, and source_url or read_in).")
        for p in row["lacks"].split():
            if p not in PEAK_COLUMNS or row[PEAK_COLUMNS[p]].strip():
                problems.append(f"{where}: lacks names {p!r}, which must be a precision whose peak is empty.")
    return problems


def find_hardware(hardware_id: str, table: dict[str, Hardware]) -> Hardware:
    """The device named exactly, or by a unique case-insensitive prefix ('h100' -> H100-SXM)."""
    if hardware_id in table:
        return table[hardware_id]
    key = hardware_id.lower()
    found = [h for k, h in table.items() if k.lower() == key] or \
            [h for k, h in table.items() if k.lower().startswith(key)]
    if len(found) == 1:
        return found[0]
    raise ProjectionError(f"Unknown hardware '{hardware_id}': use one of {', '.join(table)}.")
