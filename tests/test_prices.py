"""The price table: the shipped one loads and is cited and dated; a bad row, price or lifetime is refused with a
sentence."""
from __future__ import annotations

import pandas as pd
import pytest

from asr_core import prices
from asr_core.errors import CostError
from asr_core.prices import PriceTableError

GOOD = {"item": "instance", "name": "test-gpu", "hardware": "1× NVIDIA T4", "price": "0.5", "per": "hour",
        "currency": "USD", "region": "us-east-1", "as_of": "2026-06", "seen": "2026-12-06", "source": "A page",
        "url": "https://example.org/prices", "where": "table 1", "note": ""}


def write(tmp_path, *rows):
    path = tmp_path / "prices.csv"
    pd.DataFrame(rows, columns=list(prices.COLUMNS)).to_csv(path, index=False)
    return path


def test_the_shipped_table_is_cited_dated_and_covers_cpus_and_the_gpus():
    table = prices.load()
    instances = table[table["item"] == prices.INSTANCE]
    hardware = " ".join(instances["hardware"])
    assert (instances["hardware"].str.startswith("CPU only")).sum() >= 2
    assert all(gpu in hardware for gpu in ("T4", "A10G", "L4", "A100", "H100"))
    assert set(prices.names(table, prices.ELECTRICITY)) >= {prices.DEFAULT_ELECTRICITY}
    assert table["url"].str.startswith("https://").all() and table["seen"].str.match(r"\d{4}-\d{2}-\d{2}$").all()
    assert (table["price"] > 0).all() and table["source"].str.len().gt(0).all() and table["as_of"].ne("").all()


def test_a_row_price_carries_its_citation():
    table = prices.load()
    eu = prices.row_price(table, prices.ELECTRICITY, "eu-household", "--price-kwh")
    assert (eu.amount, eu.currency, eu.per, eu.label) == (0.2872, "EUR", "kWh", "eu-household")
    assert eu.brief == "eu-household, as of 2025-S1" and "Eurostat" in eu.source and "https://ec.europa.eu" in eu.source
    t4 = prices.row_price(table, prices.INSTANCE, "aws-g4dn.xlarge", "--instance")
    assert (t4.amount, t4.currency, t4.per) == (0.526, "USD", "hour") and t4.note == prices.CLOUD_NOTE


def test_an_unknown_instance_names_the_choices():
    with pytest.raises(CostError) as info:
        prices.row_price(prices.load(), prices.INSTANCE, "p9.huge", "--instance")
    assert str(info.value).startswith("--instance 'p9.huge' is not in the price table: use one of aws-m7g.large, ")


@pytest.mark.parametrize("change, sentence", [
    ({"price": "-1"}, "prices.csv line 2 has price -1, not a positive number: fix that row of the price table."),
    ({"price": "cheap"}, "prices.csv line 2 has price cheap, not a positive number: fix that row of the price table."),
    ({"per": "kWh"}, "prices.csv line 2 prices per kWh, but an instance is priced per hour: fix that row of the price "
                     "table."),
    ({"currency": "dollars"}, "prices.csv line 2 has currency 'dollars', not a three-letter code such as EUR or USD: "
                              "fix that row of the price table."),
    ({"seen": "June"}, "prices.csv line 2 has seen 'June', not a date like 2026-12-06: fix that row of the price "
                       "table."),
    ({"url": ""}, "prices.csv line 2 has no url: fix that row of the price table."),
    ({"hardware": ""}, "prices.csv line 2 does not say what hardware the instance has: fix that row of the price "
                       "table."),
    ({"item": "gpu"}, "prices.csv line 2 is a 'gpu' item, not one of instance, electricity: fix that row of the price "
                      "table."),
])
def test_a_bad_row_is_refused_with_a_sentence(tmp_path, change, sentence):
    with pytest.raises(PriceTableError) as info:
        prices.load(write(tmp_path, {**GOOD, **change}))
    assert str(info.value) == sentence


def test_a_name_twice_and_a_missing_column_are_refused(tmp_path):
    with pytest.raises(PriceTableError, match="names 'test-gpu' twice"):
        prices.load(write(tmp_path, GOOD, GOOD))
    path = tmp_path / "short.csv"
    pd.DataFrame([GOOD]).drop(columns=["seen"]).to_csv(path, index=False)
    with pytest.raises(PriceTableError, match="lacks the column\\(s\\) seen"):
        prices.load(path)


@pytest.mark.parametrize("value, sentence", [
    ("-0.1", "--price-kwh must be a finite number ≥ 0, not -0.1: give a price such as 0.25."),
    ("nan", "--price-kwh must be a finite number ≥ 0, not nan: give a price such as 0.25."),
    ("inf", "--price-kwh must be a finite number ≥ 0, not inf: give a price such as 0.25."),
    ("two", "--price-kwh 'two' is not a number: give a price such as 0.25."),
])
def test_a_typed_price_must_be_a_finite_number_not_below_zero(value, sentence):
    with pytest.raises(CostError) as info:
        prices.amount(value, "--price-kwh")
    assert str(info.value) == sentence
    assert prices.amount(" 0.25 ", "--price-kwh") == 0.25 and prices.amount(0, "--price-kwh") == 0.0


def test_a_purchase_over_its_lifetime():
    assert prices.per_hour_of_purchase("1200", "20000", "--price-hour") == pytest.approx(0.06)
    for lifetime in ("0", "-5", "never"):
        with pytest.raises(CostError) as info:
            prices.per_hour_of_purchase("1200", lifetime, "--price-hour")
        assert str(info.value) == (f"--price-hour needs a lifetime of more than 0 hours, not {lifetime!r}: give "
                                   f"PRICE/HOURS such as 1200/20000.")


def test_currency_codes():
    assert prices.currency_code(None) == "EUR" and prices.currency_code("usd") == "USD"
    with pytest.raises(CostError, match="--currency 'euro' is not a currency code: use three letters"):
        prices.currency_code("euro")
