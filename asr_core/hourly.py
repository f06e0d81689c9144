"""What one hour of audio costs: minutes of processing, watt-hours, grams of CO2e and money.

One computation (``audio_hour``) for every kind of figure: a measured run (``from_result``), a sweep cell's
medians (``from_row``, ``add_columns``), a published speed (``from_published``) and a projected one
(``from_projection``). Its inputs are plain: seconds of processing per second of audio (RTF), joules per
second of audio with the kind of that energy, and the hardware's name; ``CostSettings`` says where (the grid's
CO2e intensity) and at what prices (electricity per kWh, the machine per hour), and whether the audio is
processed in one batch or arrives live.

Every figure keeps its kind (``measured``, ``published``, ``projected``, ``estimate``): an estimated energy stays
an estimate in Wh, CO2e and money, and a speed without an energy gives no energy, never a guessed one.

Batch and live differ in how long the machine is held. Batch: recorded audio is worked through as fast as the
machine goes, so it is held for RTF × 1 h and free afterwards. Live: the audio arrives in real time, so the
machine is held for the whole hour whatever its speed (and with RTF > 1 it cannot keep up). Live energy is the
processing energy, plus the machine's idle draw while it waits only where an idle power figure is given.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from . import carbon, prices
from .errors import CostError
from .prices import Price
from .energy_sources import ESTIMATE, MEASURED_SOURCES, PROJECTED, UNAVAILABLE, source_parts
from .results import Result
from .sweep_table import aggregate

MEASURED, PUBLISHED = "measured", "published"  # beside energy_sources' PROJECTED and ESTIMATE: the four kinds
KINDS = (MEASURED, PUBLISHED, PROJECTED, ESTIMATE)
NO_FIGURE = ""  # the kind of a figure that is not there
BATCH, LIVE = "batch", "live"
MODE_WORDS = {BATCH: "batch: the machine is held only while it processes",
              LIVE: "live: the machine is held the whole hour"}
AUDIO_S_PER_HOUR = 3600.0
MIN_PER_HOUR = 60.0
J_PER_WH = 3600.0
WH_PER_KWH = 1000.0
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}
# What the CLI calls each input; messages name them. Another caller (the app) passes its own words.
FLAGS = {"country": "--co2e", "price_kwh": "--price-kwh", "price_hour": "--price-hour", "instance": "--instance",
         "currency": "--currency"}
COLUMN_PREFIX = "hour_"  # add_columns: the per-hour columns of a sweep frame


@dataclass(frozen=True)
class CostSettings:
    """Where and at what price, batch or live: the inputs ``audio_hour`` needs beside the figures. Build it with
    ``settings`` (which checks every value); the defaults give time and energy only."""

    mode: str = BATCH
    grid_country: str = ""  # ISO 3166 alpha-3 code; "" for no CO2e
    grid_g_per_kwh: float = math.nan  # CodeCarbon's average intensity of that country's grid
    electricity: Price | None = None  # per kWh
    machine: Price | None = None  # per hour of the machine: a cloud price, or a purchase over its lifetime
    idle_power_w: float = math.nan  # live only: the machine's draw while it waits for audio; NaN: not known, not added
    idle_kind: str = NO_FIGURE


@dataclass(frozen=True)
class AudioHour:
    """What one hour of audio costs on one configuration. Every figure is per hour of audio and has its kind
    beside it ("" where there is no figure); money is in the currency beside it."""

    mode: str  # "batch" | "live"
    hardware: str
    rtf: float  # seconds of processing per second of audio
    processing_min: float
    processing_kind: str
    machine_min: float  # how long the machine is held: its processing (batch), at least the whole hour (live)
    keeps_up_live: bool  # RTF ≤ 1
    energy_wh: float
    energy_kind: str
    co2e_g: float  # a mass, never an energy
    co2e_kind: str
    grid_country: str
    grid_g_per_kwh: float
    electricity_cost: float
    electricity_cost_kind: str
    electricity_currency: str
    electricity_price_per_kwh: float
    electricity_price_name: str
    electricity_price_source: str
    hardware_cost: float
    hardware_cost_kind: str
    hardware_currency: str
    hardware_price_per_h: float
    hardware_price_name: str
    hardware_price_source: str
    assumption: str  # in words: batch or live, what the energy includes, the grid and the prices

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- settings: every input checked, one sentence for what cannot be used -------------------------------

def settings(country: str | None = None, price_kwh: object = None, price_hour: object = None,
             instance: str | None = None, currency: str | None = None, live: bool = False,
             idle_power_w: float | None = None, idle_kind: str = ESTIMATE, table: pd.DataFrame | None = None,
             flags: Mapping[str, str] = FLAGS) -> CostSettings:
    """Checked CostSettings from plain inputs; CostError (one sentence naming the input) for any that cannot be used.

    country: ISO 3166 alpha-3 code for CO2e (None: no CO2e). price_kwh: a number in ``currency``, or the name of an
    electricity row of the price table (None: ``prices.DEFAULT_ELECTRICITY``). instance: a row of the price table,
    for its hourly price. price_hour: a number, or "PRICE/HOURS" (a purchase price over the machine's expected
    lifetime in hours), in ``currency``; it wins over the instance's own price (the instance still names the machine).
    currency: of the prices typed (default EUR); the table's prices keep their own. live: the audio arrives live.
    idle_power_w and idle_kind: the machine's idle draw (W) and its kind, added in live mode. table: the price table
    (default: precomputed/prices.csv). flags: what messages call each input.
    """
    table = prices.load() if table is None else table
    code = prices.currency_code(currency, flags["currency"])
    idle = math.nan if idle_power_w is None else prices.amount(idle_power_w, "The idle power", "watts such as 30")
    return CostSettings(mode=LIVE if live else BATCH, grid_country=country.strip().upper() if country else "",
                        grid_g_per_kwh=grid_intensity(country, flags["country"]) if country else math.nan,
                        electricity=electricity_price(price_kwh, code, table, flags["price_kwh"]),
                        machine=machine_price(price_hour, instance, code, table, flags),
                        idle_power_w=idle, idle_kind=_kind(idle_kind) if math.isfinite(idle) else NO_FIGURE)


def grid_intensity(country: str, what: str = FLAGS["country"]) -> float:
    """CodeCarbon's grid intensity (g CO2e per kWh) of a country; CostError for an unknown one or no data."""
    countries = carbon.grid_countries()
    if not countries:
        raise CostError(f"{what} cannot be computed here because CodeCarbon's grid data cannot be read: install "
                        f"codecarbon, or leave out {what}.")
    code = str(country).strip().upper()
    if code not in countries:
        raise CostError(f"{what} {country!r} is not a country CodeCarbon has grid data for: use an ISO 3166 alpha-3 "
                        f"code such as USA or FRA.")
    value = carbon.carbon_intensity_g_per_kwh(code)
    if not math.isfinite(value):
        raise CostError(f"CodeCarbon has no grid intensity for {countries[code]}: choose another country for {what}.")
    return value


def electricity_price(value: object, currency: str, table: pd.DataFrame, what: str = FLAGS["price_kwh"]) -> Price:
    """A price per kWh: a number typed (in currency) or an electricity row of the table (None: the default row)."""
    if value is None:
        return prices.row_price(table, prices.ELECTRICITY, prices.DEFAULT_ELECTRICITY, what)
    text = str(value).strip()
    if text in prices.names(table, prices.ELECTRICITY):
        return prices.row_price(table, prices.ELECTRICITY, text, what)
    try:
        float(text)
    except ValueError:
        raise CostError(f"{what} {value!r} is neither a number nor a price in the table: give a price per kWh such "
                        f"as 0.25, or one of {', '.join(prices.names(table, prices.ELECTRICITY))}.") from None
    typed = f"{what} {text}"
    return Price(prices.amount(text, what), currency, prices.PER[prices.ELECTRICITY], "typed", typed, typed)


def machine_price(value: object, instance: str | None, currency: str, table: pd.DataFrame,
                  flags: Mapping[str, str] = FLAGS) -> Price | None:
    """A price per hour of the machine: typed ("0.5", or "1200/20000" for a purchase over its lifetime in hours),
    else the instance's in the table, else None. A typed price wins over the instance's."""
    row = prices.row_price(table, prices.INSTANCE, instance, flags["instance"]) if instance else None
    if value is None:
        return row
    what, text = flags["price_hour"], str(value).strip()
    if "/" in text:
        purchase, lifetime = text.split("/", 1)
        amount = prices.per_hour_of_purchase(purchase, lifetime, what)
        source = f"{what} {text}: {purchase.strip()} {currency} over {lifetime.strip()} hours"
        note = prices.PURCHASE_NOTE
    else:
        amount, source, note = prices.amount(text, what), f"{what} {text}", ""
    if row is not None:
        source += f", instead of the table's price for {row.label}"
    return Price(amount, currency, prices.PER[prices.INSTANCE], row.label if row else "typed", source, source, note)


# --- kinds -------------------------------------------------------------------------------------------

def _kind(kind: str) -> str:
    if kind not in (*KINDS, NO_FIGURE):
        raise ValueError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    return kind


def combined(*kinds: str) -> str:
    """The kind of a figure made from several: theirs where they agree, else estimate (a mix is neither measured
    nor published). Absent figures ("") are skipped."""
    present = {k for k in kinds if k}
    if len(present) == 1:
        return present.pop()
    return ESTIMATE if present else NO_FIGURE


def energy_kind(label: str) -> str:
    """The kind of an energy figure from its source label (energy_sources.ENERGY_SOURCES) or kind.

    A meter (nvml_counter, nvml_power, rapl) is measured; "unavailable" or "" is no figure. A joined label (a
    total's "nvml_counter+rapl", a sweep cell's "rapl, estimate") is combined() over its parts
    (energy_sources.source_parts), and a label we do not know counts as an estimate, never as a measurement.
    """
    parts = [p for p in source_parts(label) if p != UNAVAILABLE]
    return combined(*(MEASURED if p in MEASURED_SOURCES else p if p in KINDS else ESTIMATE for p in parts))


# --- the one computation -----------------------------------------------------------------------------

def audio_hour(rtf: float, energy_per_audio_s_j: float, energy_label: str, hardware: str,
               costs: CostSettings = CostSettings(), time_kind: str = MEASURED) -> AudioHour:
    """What one hour of audio costs, from seconds of processing per audio second (rtf) and joules per audio
    second (energy_per_audio_s_j, with its kind or source label: energy_kind). A missing or non-positive RTF gives
    no figures; a missing energy gives no Wh, CO2e or electricity cost."""
    rtf = _positive(rtf)
    time_kind = _kind(time_kind) if math.isfinite(rtf) else NO_FIGURE
    live = costs.mode == LIVE
    machine_h = max(rtf, 1.0) if live and math.isfinite(rtf) else rtf
    energy_wh, e_kind = _energy_wh(rtf, energy_per_audio_s_j, energy_kind(energy_label), costs)
    elec, machine = costs.electricity, costs.machine
    co2e_g = energy_wh / WH_PER_KWH * costs.grid_g_per_kwh
    elec_cost = energy_wh / WH_PER_KWH * elec.amount if elec else math.nan
    hw_cost = machine_h * machine.amount if machine else math.nan
    return AudioHour(
        mode=costs.mode, hardware=hardware, rtf=rtf, processing_min=rtf * MIN_PER_HOUR, processing_kind=time_kind,
        machine_min=machine_h * MIN_PER_HOUR, keeps_up_live=bool(rtf <= 1.0), energy_wh=energy_wh, energy_kind=e_kind,
        co2e_g=co2e_g, co2e_kind=_if_figure(co2e_g, e_kind), grid_country=costs.grid_country,
        grid_g_per_kwh=costs.grid_g_per_kwh, electricity_cost=elec_cost,
        electricity_cost_kind=_if_figure(elec_cost, e_kind), electricity_currency=elec.currency if elec else "",
        electricity_price_per_kwh=elec.amount if elec else math.nan, electricity_price_name=elec.label if elec else "",
        electricity_price_source=elec.source if elec else "", hardware_cost=hw_cost,
        hardware_cost_kind=_if_figure(hw_cost, time_kind), hardware_currency=machine.currency if machine else "",
        hardware_price_per_h=machine.amount if machine else math.nan,
        hardware_price_name=machine.label if machine else "", hardware_price_source=machine.source if machine else "",
        assumption=_assumption(rtf, e_kind, costs))


def _positive(x: float | None) -> float:
    x = math.nan if x is None else float(x)
    return x if math.isfinite(x) and x > 0 else math.nan


def _if_figure(value: float, kind: str) -> str:
    return kind if math.isfinite(value) else NO_FIGURE


def _energy_wh(rtf: float, energy_per_audio_s_j: float | None, kind: str, costs: CostSettings) -> tuple[float, str]:
    """Wh per hour of audio and its kind: the processing energy, plus (live, where known) the idle draw meanwhile."""
    e = math.nan if energy_per_audio_s_j is None else float(energy_per_audio_s_j)
    if not (kind and math.isfinite(e) and e >= 0 and math.isfinite(rtf)):
        return math.nan, NO_FIGURE
    wh = e * AUDIO_S_PER_HOUR / J_PER_WH  # J per audio second × 3600 audio seconds, in Wh
    if costs.mode == LIVE and math.isfinite(costs.idle_power_w) and rtf < 1.0:
        wh += costs.idle_power_w * (1.0 - rtf)  # W × the hours it waits = Wh
        kind = combined(kind, costs.idle_kind)
    return wh, kind


def _assumption(rtf: float, e_kind: str, costs: CostSettings) -> str:
    """The record's assumptions in words: batch or live, what the energy includes, the grid and the prices."""
    idle_min = (1.0 - rtf) * MIN_PER_HOUR if rtf < 1.0 else 0.0
    if costs.mode == BATCH:
        parts = ["Batch: recorded audio is transcribed as fast as the machine goes, so it is held only for its "
                 "processing time and is free afterwards."]
    elif rtf > 1.0:
        parts = [f"Live: it cannot keep up (RTF {rtf:.2f} > 1: {_minutes(rtf * MIN_PER_HOUR)} of processing per hour "
                 f"of audio), so captions fall further behind; the machine is held for all that time."]
    else:
        parts = ["Live: the audio arrives in real time, so the machine is held for the whole hour however fast it is."]
    if not e_kind:
        parts.append("No energy figure was given, so there is no Wh, CO2e or electricity cost.")
    else:
        parts.append(f"Energy ({e_kind}) is the processing energy per second of audio × 3,600 seconds.")
        if costs.mode == LIVE and idle_min:
            parts.append(f"It adds the machine's idle draw, {costs.idle_power_w:g} W ({costs.idle_kind}), for the "
                         f"{_minutes(idle_min)} it waits." if math.isfinite(costs.idle_power_w) else
                         f"The machine's idle draw for the {_minutes(idle_min)} it waits is not included: no idle "
                         f"power figure is known.")
    return " ".join([*parts, *_price_sentences(costs)])


def _price_sentences(costs: CostSettings) -> list[str]:
    found = []
    if costs.grid_country:
        found.append(f"CO2e uses CodeCarbon's yearly average intensity of {country_name(costs.grid_country)}'s grid, "
                     f"{costs.grid_g_per_kwh:.0f} g per kWh.")
    if costs.electricity:
        found.append(f"Electricity at {unit_price(costs.electricity)} ({costs.electricity.brief}).")
    if costs.machine:
        note = f"; {costs.machine.note}" if costs.machine.note else ""
        found.append(f"The machine at {unit_price(costs.machine)} ({costs.machine.brief}){note}.")
    return found


# --- the same computation for each kind of input -----------------------------------------------------

def hardware_name(device: str, cpu_name: str, gpu_name: str) -> str:
    """The hardware a run used, as a sentence names it: the GPU on CUDA, else the CPU."""
    on_gpu = str(device).startswith("cuda") and gpu_name
    return str(gpu_name if on_gpu else cpu_name) or "this machine"


def from_result(result: Result, costs: CostSettings = CostSettings()) -> AudioHour:
    """A measured run's hour: its RTF and energy per audio second (its source says measured or estimate)."""
    return audio_hour(result.rtf, result.energy_per_audio_s_j, result.energy_source,
                      hardware_name(result.device, result.cpu_name, result.gpu_name), costs)


def from_row(row: Mapping[str, Any], costs: CostSettings = CostSettings(), time_kind: str = MEASURED) -> AudioHour:
    """A sweep cell's hour (a row of sweep_table.aggregate: medians over repeats, labels joined)."""
    return audio_hour(row.get("rtf"), row.get("energy_per_audio_s_j"), row.get("energy_source", ""),
                      hardware_name(row.get("device", ""), row.get("cpu_name", ""), row.get("gpu_name", "")),
                      costs, time_kind)


def from_published(rtfx: float, hardware: str, costs: CostSettings = CostSettings(), power_w: float | None = None,
                   power_kind: str = ESTIMATE) -> AudioHour:
    """A published speed's hour (RTFx: audio seconds per second). Without a power figure there is no energy; with
    one, energy = power × processing time, an estimate by default (a rated power is not the draw during that run)."""
    rtf = 1.0 / rtfx if rtfx and rtfx > 0 else math.nan
    energy = power_w * rtf if power_w is not None else math.nan
    return audio_hour(rtf, energy, power_kind if power_w is not None else NO_FIGURE, hardware, costs, PUBLISHED)


def from_projection(s_per_audio_s: float, j_per_audio_s: float, hardware: str,
                    costs: CostSettings = CostSettings()) -> AudioHour:
    """A projected hour (the cost model's time and energy per audio second): both figures stay projected."""
    return audio_hour(s_per_audio_s, j_per_audio_s, PROJECTED, hardware, costs, PROJECTED)


COLUMN_FIELDS = ("mode", "processing_min", "processing_kind", "machine_min", "keeps_up_live", "energy_wh",
                 "energy_kind", "co2e_g", "co2e_kind", "electricity_cost", "electricity_cost_kind",
                 "electricity_currency", "hardware_cost", "hardware_cost_kind", "hardware_currency")


def add_columns(cells: pd.DataFrame, costs: CostSettings = CostSettings(), time_kind: str = MEASURED) -> pd.DataFrame:
    """An aggregated sweep frame (sweep_table.aggregate) with the per-hour figures and their kinds as columns
    ``hour_<field>`` (COLUMN_FIELDS). The prices' sources are on ``costs`` (same for every row)."""
    hours = [from_row(row, costs, time_kind) for row in cells.to_dict("records")]
    return cells.assign(**{COLUMN_PREFIX + f: [getattr(h, f) for h in hours] for f in COLUMN_FIELDS})


# --- words --------------------------------------------------------------------------------------------

def sentence(hour: AudioHour, lead: bool = True) -> str:
    """One plain sentence: "One hour of audio like this: 12 min on this CPU · 18 Wh · 6 g CO2e (France) · €0.004 of
    electricity", with the kinds that are not measured in brackets at the end. lead=False leaves out the opening."""
    opening = "" if not lead else f"One hour of {'live ' if hour.mode == LIVE else ''}audio like this: "
    if not math.isfinite(hour.rtf):
        return opening + "no speed figure, so no cost per hour."
    items = [_time_words(hour), f"{_figure(hour.energy_wh)} Wh" if hour.energy_kind else "no energy figure"]
    if math.isfinite(hour.co2e_g):
        items.append(f"{_figure(hour.co2e_g)} g CO2e ({country_name(hour.grid_country)})")
    if math.isfinite(hour.electricity_cost):
        items.append(f"{_money(hour.electricity_cost, hour.electricity_currency)} of electricity")
    if math.isfinite(hour.hardware_cost):
        name = "machine" if hour.hardware_price_name == "typed" else hour.hardware_price_name
        items.append(f"{_money(hour.hardware_cost, hour.hardware_currency)} of {name} time")
    return opening + " · ".join(items) + _kinds_note(hour)


def energy_and_money(hour: AudioHour) -> str:
    """The energy and electricity of an hour in a few words, for a sentence that says the rest: "0.4 Wh and €0.0001"
    ('' without an energy figure; the Wh alone without a price)."""
    if not hour.energy_kind or not math.isfinite(hour.energy_wh):
        return ""
    wh = f"{_figure(hour.energy_wh)} Wh"
    if not math.isfinite(hour.electricity_cost):
        return wh
    return f"{wh} and {_money(hour.electricity_cost, hour.electricity_currency)}"


def _kinds_note(hour: AudioHour) -> str:
    """The kinds that are not measured, in brackets: " (energy estimate)", " (projected)"."""
    kinds = {"speed": hour.processing_kind, "energy": hour.energy_kind}
    shown = {what: kind for what, kind in kinds.items() if kind and kind != MEASURED}
    if not shown:
        return ""
    if len(shown) == 2 and len(set(shown.values())) == 1:
        return f" ({shown['speed']})"
    return f" ({'; '.join(f'{what} {kind}' for what, kind in shown.items())})"


def _time_words(hour: AudioHour) -> str:
    if hour.mode == BATCH:
        return f"{_minutes(hour.processing_min)} on {hour.hardware}"
    if not hour.keeps_up_live:
        return f"{_minutes(hour.processing_min)} of processing on {hour.hardware}, too slow to keep up"
    return f"the whole hour on {hour.hardware} ({_minutes(hour.processing_min)} of it processing)"


def report(hour: AudioHour) -> str:
    """The CLI's lines: the sentence, then its assumptions."""
    return f"{sentence(hour)}\n  assumes: {hour.assumption}"


def summary_lines(table: pd.DataFrame, costs: CostSettings = CostSettings()) -> list[str]:
    """A sweep's per-hour line per cell (medians over repeats, sweep_table.aggregate), after one line of settings."""
    cells = aggregate(table)
    if cells.empty:
        return []
    lines = [f"Per hour of audio ({MODE_WORDS[costs.mode]}). " + " ".join(_price_sentences(costs))]
    return lines + [f"{_cell(row)}: {sentence(from_row(row, costs), lead=False)}" for row in cells.to_dict("records")]


def _cell(row: Mapping[str, Any]) -> str:
    noise = f" {row['noise']} {row['snr_db']:g} dB" if row.get("noise") else ""
    return (f"{row['model']} {row['runtime']} {row['device']} {row['precision']} batch {row['batch_size']} "
            f"{row['bucket']}{noise}")


def result_json(result: Result, hour: AudioHour) -> str:
    """The result's JSON record (power trace included) with its per-hour record under "per_audio_hour"."""
    return json.dumps({**json.loads(result.to_json()), "per_audio_hour": hour.to_dict()}, indent=2, allow_nan=True)


def _figure(x: float) -> str:
    """Two significant figures below 100, whole numbers above: 0.042, 4.2, 42, 420, 4,200."""
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{max(0, 1 - math.floor(math.log10(abs(x))))}f}"


def _minutes(m: float) -> str:
    return f"{_figure(m)} min"


def _money(x: float, currency: str) -> str:
    number = f"{x:,.2f}" if x >= 1 else _figure(x)
    return f"{SYMBOLS[currency]}{number}" if currency in SYMBOLS else f"{number} {currency}"


def unit_price(price: Price) -> str:
    """A unit price in full, as its source gives it: "€0.2872 per kWh", "$0.526 per hour"."""
    number = f"{price.amount:.4g}"
    amount = f"{SYMBOLS[price.currency]}{number}" if price.currency in SYMBOLS else f"{number} {price.currency}"
    return f"{amount} per {price.per}"


def country_name(code: str) -> str:
    """A grid's country by name (CodeCarbon's), or its code where the name is not known."""
    return carbon.grid_countries().get(code, code)
