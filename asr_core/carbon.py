"""CO2-equivalent mass from energy and a country's grid intensity (CodeCarbon's bundled data).

Mass, not energy: kg CO2e = kWh x g CO2e per kWh / 1000. Read from CodeCarbon's data file on disk,
without importing codecarbon (which starts trackers and logs on import).
"""
from __future__ import annotations

import importlib.util
import json
import logging
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

J_PER_KWH = 3.6e6
ENERGY_MIX_FILE = "data/private_infra/global_energy_mix.json"  # inside the codecarbon package

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _energy_mix() -> dict[str, Any] | None:
    """CodeCarbon's bundled per-country grid data, read from disk without importing codecarbon."""
    try:
        spec = importlib.util.find_spec("codecarbon")
        root = Path(next(iter(spec.submodule_search_locations)))
        return json.loads((root / ENERGY_MIX_FILE).read_text())
    except Exception as e:  # not installed, moved in a new release, unreadable
        log.debug("CodeCarbon grid data unavailable: %s", e)
        return None


def grid_countries() -> dict[str, str]:
    """ISO 3166 alpha-3 code -> country name, for the countries CodeCarbon has grid data for."""
    return {code: entry.get("country_name", code) for code, entry in (_energy_mix() or {}).items()}


def carbon_intensity_g_per_kwh(country_iso_code: str = "USA") -> float:
    """The country's grid carbon intensity (g CO2eq per kWh) from CodeCarbon's data; nan if unreadable."""
    mix = _energy_mix()
    if mix is None:
        return math.nan
    entry = mix.get(country_iso_code.upper())
    if entry is None:
        raise ValueError(f"no grid data for country {country_iso_code!r}; "
                         "use an ISO 3166 alpha-3 code such as 'USA' or 'FRA'")
    value = entry.get("carbon_intensity")
    return math.nan if value is None else float(value)


def co2e_kg(energy_j: float, country_iso_code: str = "USA") -> float:
    """Mass of CO2-equivalent (kg) for ``energy_j`` joules drawn from the country's grid; nan if unknown."""
    return energy_j / J_PER_KWH * carbon_intensity_g_per_kwh(country_iso_code) / 1000.0
