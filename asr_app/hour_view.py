"""Cost per audio hour in Explore and Recommend: the grid and price picker's choices, the settings they make,
the per-hour columns of a sweep's aggregates (each with its kind) and the words around them.

The computation is ``asr_core.hourly``'s and the prices are ``precomputed/prices.csv`` (``asr_core.prices``);
this module turns the picker's values into ``CostSettings`` (one sentence when a typed price cannot be used)
and names each per-hour figure, its unit and its sources the way charts, tooltips and the leaderboard show them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from asr_core import carbon, hourly, prices
from asr_core.hourly import MEASURED, CostSettings
from asr_core.prices import CostError

GRID_DEFAULT = "FRA"  # the README's examples; the picker says to choose where the machine runs
NO_MACHINE = ""  # the instance picker's "no machine price" choice
# What the settings' messages call each picker (hourly.settings names the CLI's flags otherwise).
WORDS = {"country": "The grid", "price_kwh": "The electricity price per kWh", "price_hour": "The machine's price per hour",
         "instance": "The instance", "currency": "The currency"}
# per-hour column -> (how a chart or the leaderboard names it, its kind column)
METRICS = {
    "hour_processing_min": ("minutes", "hour_processing_kind"),
    "hour_energy_wh": ("Wh", "hour_energy_kind"),
    "hour_co2e_g": ("g CO2e", "hour_co2e_kind"),
    "hour_electricity_cost": ("electricity", "hour_electricity_cost_kind"),
    "hour_hardware_cost": ("machine time", "hour_hardware_cost_kind"),
}
KIND_COLUMN = "hour_kind"  # every per-hour figure's kind in words: "time measured · energy estimate"
SOURCES_COLUMN = "hour_sources"  # where the energy, the grid and the prices come from, for tooltips
URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Picked:
    """The picker's values, as the address keeps them."""

    country: str = GRID_DEFAULT  # ISO 3166 alpha-3; "" for no CO2e
    electricity: str = prices.DEFAULT_ELECTRICITY  # a row of the price table
    price_kwh: str = ""  # typed: wins over the row
    instance: str = NO_MACHINE  # a row of the price table, or none
    price_hour: str = ""  # typed per hour, or PRICE/HOURS for a machine one owns: wins over the instance's
    live: bool = False


def grid_options() -> dict[str, str]:
    """ISO code -> country name, by name, for the grid picker ({} when CodeCarbon's data cannot be read)."""
    countries = carbon.grid_countries()
    return dict(sorted(countries.items(), key=lambda item: item[1]))


def settings(picked: Picked, table: pd.DataFrame) -> tuple[CostSettings, str]:
    """Checked settings from the picker; a typed price that cannot be used gives the table's defaults and the one
    sentence saying what was wrong (the country is chosen from a list, so only a missing grid table fails it)."""
    country = picked.country if picked.country in grid_options() else None
    try:
        return hourly.settings(country=country, price_kwh=picked.price_kwh.strip() or picked.electricity,
                               price_hour=picked.price_hour.strip() or None, instance=picked.instance or None,
                               live=picked.live, table=table, flags=WORDS), ""
    except CostError as exc:
        fallback = hourly.settings(country=country, instance=picked.instance or None, live=picked.live, table=table,
                                   flags=WORDS)
        return fallback, f"{exc} The table's prices are used meanwhile."


def metrics(costs: CostSettings) -> dict[str, str]:
    """The per-hour metrics these settings give (CO2e needs a grid, money a price), column -> axis title."""
    shown = {col: axis_title(col, costs) for col in METRICS}
    if not costs.grid_country:
        shown.pop("hour_co2e_g")
    if costs.machine is None:
        shown.pop("hour_hardware_cost")
    return shown


def axis_title(column: str, costs: CostSettings) -> str:
    """'Wh per hour of audio', '€ of electricity per hour of audio', 'g CO2e per hour of audio (France)'."""
    if column == "hour_co2e_g":
        return f"g CO2e per hour of audio ({hourly.country_name(costs.grid_country)})"
    if column == "hour_electricity_cost" and costs.electricity:
        return f"{_symbol(costs.electricity.currency)} of electricity per hour of audio"
    if column == "hour_hardware_cost" and costs.machine:
        return f"{_symbol(costs.machine.currency)} of machine time per hour of audio ({costs.machine.label})"
    word = "minutes of processing" if column == "hour_processing_min" else METRICS[column][0]
    return f"{word} per hour of audio"


def _symbol(currency: str) -> str:
    return hourly.SYMBOLS.get(currency, currency)


def with_hours(cells: pd.DataFrame, costs: CostSettings, time_kind: str = MEASURED) -> pd.DataFrame:
    """Aggregated cells with the per-hour columns (hourly.add_columns), their kinds in words and their sources."""
    if cells.empty:
        return cells.assign(**{c: pd.Series(dtype=float) for c in METRICS},
                            **{KIND_COLUMN: pd.Series(dtype=str), SOURCES_COLUMN: pd.Series(dtype=str)})
    out = hourly.add_columns(cells, costs, time_kind)
    kinds = [kind_words(t, e) for t, e in zip(out["hour_processing_kind"], out["hour_energy_kind"])]
    energy = out["energy_source"] if "energy_source" in out.columns else pd.Series("", index=out.index)
    return out.assign(**{KIND_COLUMN: kinds,
                         SOURCES_COLUMN: [sources(costs, str(e)) for e in energy.fillna("")]})


def kind_words(time_kind: str, energy_kind: str) -> str:
    """'time measured · energy estimate': the kinds every per-hour figure inherits (CO2e and money the energy's)."""
    return " · ".join(f"{what} {kind}" for what, kind in (("time", time_kind), ("energy", energy_kind)) if kind) or "none"


def sources(costs: CostSettings, energy_source: str = "") -> str:
    """Where an hour's figures come from, in one line: the energy's source, the grid, the prices with their dates."""
    parts = [f"energy: {energy_source}"] if energy_source else []
    if costs.grid_country:
        parts.append(f"grid: {_grid(costs)}")
    if costs.electricity:
        parts.append(f"electricity: {hourly.unit_price(costs.electricity)} ({costs.electricity.brief})")
    if costs.machine:
        parts.append(f"machine: {hourly.unit_price(costs.machine)} ({costs.machine.brief})")
    return "; ".join(parts)


def _grid(costs: CostSettings) -> str:
    name = hourly.country_name(costs.grid_country)
    return f"{name}, {costs.grid_g_per_kwh:.0f} g CO2e/kWh (CodeCarbon)"


def assumptions(costs: CostSettings) -> str:
    """The caption under per-hour figures: batch or live, and each price with its citation."""
    lines = [f"Per hour of audio ({hourly.MODE_WORDS[costs.mode]}). Minutes = RTF × 60; Wh = joules per audio "
             "second (the sweep's energy, with its source); CO2e and electricity follow the energy and keep its "
             "kind: an estimated energy gives an estimated CO2e and cost."]
    if costs.grid_country:
        lines.append(f"CO2e: the grid of {_grid(costs)}, its yearly average; a mass, not an energy.")
    for what, price in (("Electricity", costs.electricity), ("Machine time", costs.machine)):
        if price:
            note = f" ({price.note})" if price.note else ""
            lines.append(f"{what}: {hourly.unit_price(price)}, {URL.sub('', price.source).strip()}{note}.")
    return " ".join(lines)


def links(costs: CostSettings) -> list[tuple[str, str]]:
    """(what, address) of each price's source, for a link beside the assumptions."""
    found = [(what, URL.search(price.source)) for what, price in (("electricity price", costs.electricity),
                                                                  ("machine price", costs.machine)) if price]
    return [(what, m.group(0)) for what, m in found if m]


def kinds_subtitle(frame: pd.DataFrame) -> str:
    """The kinds a chart's per-hour figures have, for its subtitle: 'time measured · energy estimate'."""
    kinds = sorted(set(frame[KIND_COLUMN])) if KIND_COLUMN in frame.columns else []
    return f"figures here: {'; '.join(kinds)}" if kinds else ""


LEADERBOARD_HEADERS = {"hour_processing_min": "min per audio h", "hour_energy_wh": "Wh per audio h",
                       "hour_co2e_g": "g CO2e per audio h", "hour_electricity_cost": "electricity per audio h",
                       "hour_hardware_cost": "machine per audio h", KIND_COLUMN: "per-hour kind"}


def leaderboard_columns(costs: CostSettings) -> dict[str, str]:
    """Per-hour column -> leaderboard header (money headers name their currency), for the metrics these settings give."""
    shown = metrics(costs)
    out = {}
    for col, header in LEADERBOARD_HEADERS.items():
        if col == KIND_COLUMN or col in shown:
            out[col] = _money_header(col, header, costs)
    return out


def _money_header(col: str, header: str, costs: CostSettings) -> str:
    price = {"hour_electricity_cost": costs.electricity, "hour_hardware_cost": costs.machine}.get(col)
    return f"{_symbol(price.currency)} {header}" if price else header
