"""Prices that turn a per-hour figure into money: cloud instances per hour and electricity per kWh.

The defaults are a small table, ``precomputed/prices.csv``, each row cited (source title, URL, where in
it), dated (the date or period the price is for, and the day we read it) and checked here, as
``published.py`` checks ``published.csv``. Every price can be replaced by one the user types: a price per
kWh, a price per hour of a machine, or a purchase price spread over the machine's expected lifetime.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import cited
from .errors import CostError

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "precomputed" / "prices.csv"
COLUMNS = ("item", "name", "hardware", "price", "per", "currency", "region", "as_of", "seen", "source", "url",
           "where", "note")
INSTANCE, ELECTRICITY = "instance", "electricity"
PER = {INSTANCE: "hour", ELECTRICITY: "kWh"}  # what each item's price is for
REQUIRED_TEXT = ("name", "currency", "as_of", "seen", "source", "url", "where")
DEFAULT_ELECTRICITY = "eu-household"  # the headline EU average (Eurostat), what a class or a household pays
DEFAULT_CURRENCY = "EUR"  # of a price the user types, unless they name another
CURRENCY_CODE = re.compile(r"[A-Z]{3}")  # ISO 4217
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FIX = "fix that row of the price table"
CLOUD_NOTE = "a cloud price already pays for the machine's electricity, so do not add the two"
PURCHASE_NOTE = "a purchase price does not pay for electricity, so add the two"


class PriceTableError(CostError):
    """A price table that cannot be used; one sentence per problem."""


@dataclass(frozen=True)
class Price:
    """One price: ``amount`` in ``currency`` per ``per`` ("hour" of a machine, or "kWh"), and where it came from."""

    amount: float
    currency: str
    per: str
    label: str  # what it prices: a table row's name ("aws-g4dn.xlarge", "eu-household") or "typed"
    source: str  # the full citation (source, where in it, dates, URL), or what the user typed
    brief: str  # what a sentence says of it: "eu-household, as of 2025-S1", or what the user typed
    note: str = ""  # what to keep in mind when adding it up (whether a machine's price includes its electricity)


# --- the table ---------------------------------------------------------------------------------------

def load(path: str | os.PathLike = DEFAULT_PATH) -> pd.DataFrame:
    """The price table, checked (validate), with ``price`` as numbers."""
    return validate(cited.read(path, PriceTableError, "price table"), Path(path).name)


def validate(raw: pd.DataFrame, name: str = "price table") -> pd.DataFrame:
    """The table with prices parsed; PriceTableError with one sentence per problem."""
    text = cited.text(raw, COLUMNS, PriceTableError, name)
    table = text.assign(price=pd.to_numeric(text["price"], errors="coerce"))
    found = [s for i in range(len(table)) for s in _row_problems(table.iloc[i], text.iloc[i], i + 2, name)]
    twice = sorted(set(table["name"][table["name"].duplicated() & (table["name"] != "")]))
    found += [f"{name} names {n!r} twice: give each row its own name." for n in twice]
    if found:
        raise PriceTableError(" ".join(found))
    return table


def _row_problems(row: pd.Series, text: pd.Series, line: int, name: str) -> list[str]:
    """One sentence per problem of one row (line: its line in the file, the header being line 1)."""
    where = f"{name} line {line}"
    if row["item"] not in PER:
        return [f"{where} is a {row['item'] or 'blank'!r} item, not one of {', '.join(PER)}: {FIX}."]
    found = [f"{where} has no {col}: {FIX}." for col in REQUIRED_TEXT if not row[col]]
    if row["item"] == INSTANCE and not row["hardware"]:
        found.append(f"{where} does not say what hardware the instance has: {FIX}.")
    if row["per"] != PER[row["item"]]:
        found.append(f"{where} prices per {row['per'] or 'nothing'}, but an {row['item']} is priced per "
                     f"{PER[row['item']]}: {FIX}.")
    if not (math.isfinite(row["price"]) and row["price"] > 0):  # NaN fails too
        found.append(f"{where} has price {text['price'] or 'empty'}, not a positive number: {FIX}.")
    if row["currency"] and not CURRENCY_CODE.fullmatch(row["currency"]):
        found.append(f"{where} has currency {row['currency']!r}, not a three-letter code such as EUR or USD: {FIX}.")
    if row["seen"] and not ISO_DATE.fullmatch(row["seen"]):
        found.append(f"{where} has seen {row['seen']!r}, not a date like 2026-12-06: {FIX}.")
    if row["url"] and not row["url"].startswith(("https://", "http://")):
        found.append(f"{where} has url {row['url']!r}, not a web address: {FIX}.")
    return found


def names(table: pd.DataFrame, item: str) -> list[str]:
    """The names of one item's rows ("instance" or "electricity"), in the table's order."""
    return table.loc[table["item"] == item, "name"].tolist()


def row_price(table: pd.DataFrame, item: str, name: str, what: str) -> Price:
    """The table's price of one named instance or electricity row; CostError naming the choices if unknown."""
    rows = table[(table["item"] == item) & (table["name"] == name)]
    if rows.empty:
        raise CostError(f"{what} {name!r} is not in the price table: use one of {', '.join(names(table, item))}.")
    row = rows.iloc[0]
    return Price(float(row["price"]), row["currency"], row["per"], row["name"], cite(row),
                 f"{row['name']}, as of {row['as_of']}", CLOUD_NOTE if item == INSTANCE else "")


def cite(row: pd.Series) -> str:
    """How a price names its source: source title, what the price is for, when, and the address."""
    region = f", {row['region']}" if row["region"] and row["region"] != "not stated" else ""
    return f"{row['source']} ({row['where']}{region}; as of {row['as_of']}, read {row['seen']}) {row['url']}"


# --- prices the user types ---------------------------------------------------------------------------

def amount(value: object, what: str, example: str = "a price such as 0.25") -> float:
    """A price or figure the user gave, as a finite number ≥ 0; CostError for text, NaN, inf or a negative."""
    try:
        number = float(str(value).strip())
    except ValueError:
        raise CostError(f"{what} {value!r} is not a number: give {example}.") from None
    if not math.isfinite(number) or number < 0:
        raise CostError(f"{what} must be a finite number ≥ 0, not {value}: give {example}.")
    return number


def currency_code(value: str | None, what: str = "--currency") -> str:
    """A three-letter currency code (upper-cased); DEFAULT_CURRENCY for None."""
    code = DEFAULT_CURRENCY if value is None else str(value).strip().upper()
    if not CURRENCY_CODE.fullmatch(code):
        raise CostError(f"{what} {value!r} is not a currency code: use three letters such as EUR or USD.")
    return code


def per_hour_of_purchase(purchase: object, lifetime_h: object, what: str) -> float:
    """A machine's price per hour: its purchase price over its expected lifetime in hours (which must be > 0)."""
    price = amount(purchase, what)
    try:
        hours = float(str(lifetime_h).strip())
    except ValueError:
        hours = math.nan
    if not (math.isfinite(hours) and hours > 0):
        raise CostError(f"{what} needs a lifetime of more than 0 hours, not {lifetime_h!r}: give PRICE/HOURS such as "
                        f"1200/20000.")
    return price / hours
