"""Cost per audio hour in Explore and Recommend: the picker's values to settings (a typed price that cannot be used
refused in one sentence, the table's prices kept), the metrics they give, the columns with their kinds and sources."""
from __future__ import annotations

import pandas as pd
import pytest

from asr_app import hour_view
from asr_core import carbon, prices
from asr_core.sweep_table import aggregate, validate
from fakes import fake_sweep

GRID = {"TST": {"carbon_intensity": 400.0, "country_name": "Testland"},
        "FRA": {"carbon_intensity": 50.0, "country_name": "France"}}


@pytest.fixture(autouse=True)
def grid(monkeypatch):
    monkeypatch.setattr(carbon, "_energy_mix", lambda: GRID)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return prices.load()


def test_the_defaults_are_the_cited_table_and_a_named_grid(table):
    costs, problem = hour_view.settings(hour_view.Picked(), table)
    assert problem == "" and costs.grid_country == "FRA" and costs.grid_g_per_kwh == 50.0
    assert costs.electricity.label == prices.DEFAULT_ELECTRICITY and costs.machine is None
    assert list(hour_view.metrics(costs)) == ["hour_processing_min", "hour_energy_wh", "hour_co2e_g",
                                              "hour_electricity_cost"]  # no machine price: no machine time
    assert hour_view.axis_title("hour_electricity_cost", costs) == "€ of electricity per hour of audio"
    assert hour_view.axis_title("hour_co2e_g", costs) == "g CO2e per hour of audio (France)"
    assert "Eurostat" in hour_view.assumptions(costs) and "a mass, not an energy" in hour_view.assumptions(costs)


def test_an_instance_and_typed_prices(table):
    costs, problem = hour_view.settings(hour_view.Picked("TST", price_kwh="0.1", instance="aws-g4dn.xlarge"), table)
    assert problem == "" and costs.electricity.amount == 0.1 and costs.machine.amount == 0.526
    assert hour_view.leaderboard_columns(costs)["hour_hardware_cost"] == "$ machine per audio h"
    owned, _ = hour_view.settings(hour_view.Picked(price_hour="1200/20000"), table)
    assert owned.machine.amount == pytest.approx(0.06) and owned.machine.currency == "EUR"
    none, _ = hour_view.settings(hour_view.Picked(country=""), table)
    assert none.grid_country == "" and "hour_co2e_g" not in hour_view.metrics(none)


@pytest.mark.parametrize("picked, sentence", [
    (hour_view.Picked(price_kwh="cheap"), "The electricity price per kWh 'cheap' is neither a number nor a price in "
                                          "the table"),
    (hour_view.Picked(price_kwh="-1"), "The electricity price per kWh must be a finite number ≥ 0, not -1"),
    (hour_view.Picked(price_hour="1200/0"), "The machine's price per hour needs a lifetime of more than 0 hours"),
])
def test_a_price_that_cannot_be_used_is_one_sentence_and_the_table_stays(table, picked, sentence):
    costs, problem = hour_view.settings(picked, table)
    assert problem.startswith(sentence) and problem.endswith("The table's prices are used meanwhile.")
    assert costs.electricity.label == prices.DEFAULT_ELECTRICITY  # what is drawn keeps working


def test_columns_keep_their_kind_and_name_their_sources(table):
    cells = aggregate(validate(fake_sweep(), "fake.parquet"))
    costs, _ = hour_view.settings(hour_view.Picked("TST"), table)
    out = hour_view.with_hours(cells, costs)
    cpu = out[out["device"] == "cpu"].iloc[0]
    assert cpu["hour_processing_min"] == pytest.approx(cpu["rtf"] * 60)
    assert cpu["hour_energy_wh"] == pytest.approx(cpu["energy_per_audio_s_j"])  # J per audio s = Wh per audio h
    assert cpu["hour_co2e_g"] == pytest.approx(cpu["hour_energy_wh"] / 1000 * 400)
    assert cpu["hour_kind"] == "time measured · energy estimate" and cpu["hour_co2e_kind"] == "estimate"
    assert cpu["hour_sources"] == ("energy: estimate; grid: Testland, 400 g CO2e/kWh (CodeCarbon); electricity: "
                                   "€0.2872 per kWh (eu-household, as of 2025-S1)")
    assert hour_view.with_hours(cells.iloc[:0], costs).empty
    assert out["hour_hardware_cost"].isna().all()  # no machine price chosen


def test_without_grid_data_the_hour_goes_on_without_co2e(monkeypatch, table):
    monkeypatch.setattr(carbon, "_energy_mix", lambda: None)  # CodeCarbon's grid data cannot be read
    costs, problem = hour_view.settings(hour_view.Picked(), table)
    assert problem == "" and costs.grid_country == "" and costs.electricity is not None
    assert "hour_co2e_g" not in hour_view.metrics(costs)
