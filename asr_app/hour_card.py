"""The hour figure that opens Transcribe's result card: what one hour of audio like the run's clip costs, in minutes,
watt-hours, grams of CO2e and money (``asr_core.hourly``), with the assumptions a click away; large in class mode.

The grid and the prices are the visitor's, from the picker Explore and Recommend share (``pages/hour_picker.py``,
``hour_view.settings``; kept in the URL): France's grid and the table's cited electricity price unless changed.
"""
from __future__ import annotations

import dataclasses
import math

from asr_core import hourly
from asr_core.results import Result

from .figures import Figure

HERE = {"cpu": "this CPU", "cuda": "this GPU"}  # a run measured here, as the sentence names its hardware


def card_hour(r: Result, costs: hourly.CostSettings) -> hourly.AudioHour:
    """The run's hour (hourly.from_result), its hardware named as a class sees it: 'this CPU'."""
    hour = hourly.from_result(r, costs)
    return dataclasses.replace(hour, hardware=HERE.get(r.device, hour.hardware))


def assumptions(hour: hourly.AudioHour, r: Result) -> list[str]:
    """What the hour figure assumes, a paragraph each, for the card's popover: the hardware in full, hourly's
    assumptions, and the source of the electricity price."""
    where = hourly.hardware_name(r.device, r.cpu_name, r.gpu_name)
    lines = [f"Measured on {where}, on this clip ({r.audio_s / max(1, r.n_clips):.1f} s), batch {r.batch_size}: an "
             f"hour of audio like it, processed the same way.", hour.assumption]
    if hour.electricity_price_source:
        lines.append(f"Electricity price: {hour.electricity_price_source}")
    return lines


def heading(hour: hourly.AudioHour) -> str:
    """What class mode's hour figures are for, in a line that fits a card: 'Per hour of audio, on this CPU:'."""
    return f"Per hour of audio, on {hour.hardware}:"


def hour_figures(hour: hourly.AudioHour) -> list[Figure]:
    """The hour's figures one by one (under heading()), for class mode's large type; each says its kind where it is
    not measured."""
    def kind(k: str) -> str:
        return "" if k in (hourly.MEASURED, hourly.NO_FIGURE) else f" ({k})"
    found = [Figure("Time" + kind(hour.processing_kind), _amount(hour.processing_min, "min"),
                    f"minutes of processing for one hour of audio like this clip on {hour.hardware}")]
    if math.isfinite(hour.energy_wh):
        found.append(Figure("Energy" + kind(hour.energy_kind), _amount(hour.energy_wh, "Wh"),
                            "watt-hours for one hour of audio like this clip"))
    if math.isfinite(hour.co2e_g):
        country = hourly.country_name(hour.grid_country)
        found.append(Figure("CO2e" + kind(hour.co2e_kind), _amount(hour.co2e_g, "g"),
                            f"grams of CO2e from that energy on {country}'s grid ({hour.grid_g_per_kwh:.0f} g per kWh, "
                            f"CodeCarbon's yearly average)"))
    if math.isfinite(hour.electricity_cost):
        symbol = hourly.SYMBOLS.get(hour.electricity_currency, "")
        found.append(Figure("Electricity" + kind(hour.electricity_cost_kind),
                            symbol + _amount(hour.electricity_cost, "" if symbol else hour.electricity_currency),
                            f"that energy at {hour.electricity_price_per_kwh:g} {hour.electricity_currency} per kWh"))
    return found


def _amount(x: float, unit: str) -> str:
    """Two significant figures below 100, whole numbers from 100: '0.28 g', '12 min', '1,240 min'."""
    number = f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2g}"
    return f"{number} {unit}".strip()
