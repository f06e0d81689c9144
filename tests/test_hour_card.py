"""The hour figure on Transcribe's result card: hourly's sentence for the run, on 'this CPU', its assumptions a click
away, and the figures class mode shows large, each with its kind."""
from __future__ import annotations

import math

import pytest

from asr_app import hour_card, hour_view
from asr_core import hourly, prices
from fakes import result


@pytest.fixture(scope="module")
def costs():
    """The picker's defaults, as a visitor who changed nothing gets them."""
    return hour_view.settings(hour_view.Picked(), prices.load())[0]


def test_the_card_uses_the_cited_default_price_and_frances_grid(costs):
    assert costs.grid_country == hour_view.GRID_DEFAULT == "FRA"
    assert costs.electricity.label == prices.DEFAULT_ELECTRICITY and costs.mode == hourly.BATCH


def test_the_card_opens_with_the_hour_sentence_of_the_run(costs):
    r = result(rtf=0.2, energy_per_audio_s_j=5.0, cpu_name="Intel(R) Xeon(R) Processor")
    hour = hour_card.card_hour(r, costs)
    sentence = hourly.sentence(hour)
    assert sentence.startswith("One hour of audio like this: 12 min on this CPU · 5.0 Wh · ")
    assert "g CO2e (France)" in sentence and "of electricity" in sentence and sentence.endswith("(energy estimate)")
    assert hour.processing_min == pytest.approx(12.0) and hour.energy_wh == pytest.approx(5.0)
    said = " ".join(hour_card.assumptions(hour, r))
    assert "Measured on Intel(R) Xeon(R) Processor" in said and "Batch:" in said and "Eurostat" in said


def test_class_mode_figures_keep_their_kinds(costs):
    hour = hour_card.card_hour(result(rtf=0.2, energy_per_audio_s_j=5.0), costs)
    figures = {f.label: f.value for f in hour_card.hour_figures(hour)}
    assert figures == {"Time": "12 min", "Energy (estimate)": "5 Wh",
                       "CO2e (estimate)": f"{hour.co2e_g:.2g} g", "Electricity (estimate)": f"€{hour.electricity_cost:.2g}"}
    measured = hour_card.card_hour(result(rtf=2.5, energy_per_audio_s_j=5.0, energy_source="rapl"), costs)
    assert [f.label for f in hour_card.hour_figures(measured)][:2] == ["Time", "Energy"]  # measured: no tag
    assert hour_card.hour_figures(measured)[0].value == "150 min"
    assert hour_card.heading(hour) == "Per hour of audio, on this CPU:"


def test_no_energy_gives_no_energy_figures(costs):
    hour = hour_card.card_hour(result(energy_per_audio_s_j=math.nan, energy_source="unavailable"), costs)
    assert [f.label for f in hour_card.hour_figures(hour)] == ["Time"]
