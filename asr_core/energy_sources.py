"""Where an energy figure came from: the names every ``*_source`` field, table and caption uses.

A GPU figure is the delta of NVML's cumulative energy counter (``nvml_counter``) or the integral of sampled
NVML power (``nvml_power``); a CPU figure is the delta of the RAPL counters (``rapl``) or a model of this
process's CPU time at an assumed package power (``estimate``: not a measurement); ``unavailable`` where
neither could be read. A total joins the sources of its parts with "+" (``nvml_counter+rapl``).
"""
from __future__ import annotations

import re

NVML_COUNTER, NVML_POWER, RAPL, ESTIMATE, UNAVAILABLE = "nvml_counter", "nvml_power", "rapl", "estimate", "unavailable"
ENERGY_SOURCES = (NVML_COUNTER, NVML_POWER, RAPL, ESTIMATE, UNAVAILABLE)
MEASURED_SOURCES = (NVML_COUNTER, NVML_POWER, RAPL)
PROJECTED = "projected"  # the cost model's figure (recommend.projected_cells): never a measurement, never in a sweep
JOIN = "+"
# a total's parts are joined by "+"; an aggregate over rows lists distinct totals with ", "
PARTS = re.compile(r"[+,\s]+")


def source_parts(energy_source: str) -> list[str]:
    """'nvml_counter+estimate' -> ['nvml_counter', 'estimate'] (also over an aggregate's 'rapl, estimate')."""
    return [part for part in PARTS.split(str(energy_source or "").strip()) if part]
