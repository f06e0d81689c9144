"""What one hour of audio costs: exact unit conversions on hand-made figures, batch vs live, kinds kept through
the conversion, the sweep's columns and lines, and bad input refused with one sentence (CLI: exit 2 before any model
loads)."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import soundfile as sf

from asr_core import carbon, cli, hourly, prices
from asr_core.hourly import ESTIMATE, MEASURED, PROJECTED, PUBLISHED
from asr_core.errors import CostError
from asr_core.prices import Price
from asr_core.results import Result
from asr_core.sweep_table import aggregate
from helpers import tone

GRID = {"TST": {"carbon_intensity": 400.0, "country_name": "Testland"}}  # a made-up grid: 400 g CO2e per kWh
KWH = Price(0.3, "EUR", "kWh", "typed", "--price-kwh 0.3", "--price-kwh 0.3")
HOUR = Price(0.5, "USD", "hour", "test-gpu", "a test page", "test-gpu, as of 2026")


@pytest.fixture
def grid(monkeypatch):
    monkeypatch.setattr(carbon, "_energy_mix", lambda: GRID)


def costs(mode=hourly.BATCH, **kw):
    return hourly.CostSettings(mode=mode, grid_country="TST", grid_g_per_kwh=400.0, electricity=KWH, machine=HOUR,
                               **kw)


# --- the conversions, exact ---------------------------------------------------------------------------

def test_batch_conversions_are_exact():
    h = hourly.audio_hour(0.2, 5.0, "rapl", "Test CPU", costs())
    assert h.processing_min == 12.0 and h.machine_min == 12.0  # RTF 0.2 of 60 min
    assert h.energy_wh == 5.0  # 5 J per audio second x 3600 s = 18 kJ = 5 Wh
    assert h.co2e_g == pytest.approx(2.0)  # 0.005 kWh x 400 g/kWh
    assert h.electricity_cost == pytest.approx(0.0015) and h.electricity_currency == "EUR"  # 0.005 kWh x 0.3
    assert h.hardware_cost == pytest.approx(0.1) and h.hardware_currency == "USD"  # 0.2 h x 0.5 per hour
    assert (h.processing_kind, h.energy_kind, h.co2e_kind, h.electricity_cost_kind, h.hardware_cost_kind) == (
        MEASURED,) * 5


def test_live_holds_the_machine_the_whole_hour_and_counts_no_idle_draw_it_does_not_know():
    h = hourly.audio_hour(0.2, 5.0, "rapl", "Test CPU", costs(hourly.LIVE))
    assert h.processing_min == 12.0 and h.machine_min == 60.0 and h.keeps_up_live
    assert h.hardware_cost == pytest.approx(0.5)  # the whole hour, whatever the speed
    assert h.energy_wh == 5.0 and h.energy_kind == MEASURED  # the processing only
    assert "idle draw for the 48 min it waits is not included: no idle power figure is known" in h.assumption
    assert h.assumption.startswith("Live: the audio arrives in real time")


def test_live_adds_a_known_idle_draw_and_labels_the_mix():
    h = hourly.audio_hour(0.2, 5.0, "rapl", "Test CPU", costs(hourly.LIVE, idle_power_w=30.0, idle_kind=ESTIMATE))
    assert h.energy_wh == pytest.approx(5.0 + 30.0 * 0.8)  # + 30 W for the 48 min it waits
    assert h.energy_kind == h.co2e_kind == h.electricity_cost_kind == ESTIMATE  # measured + estimate is an estimate
    assert "idle draw, 30 W (estimate), for the 48 min it waits" in h.assumption
    batch = hourly.audio_hour(0.2, 5.0, "rapl", "Test CPU", costs(idle_power_w=30.0, idle_kind=ESTIMATE))
    assert batch.energy_wh == 5.0 and batch.energy_kind == MEASURED  # batch: free after its processing


def test_live_slower_than_real_time_cannot_keep_up():
    h = hourly.audio_hour(1.5, 5.0, "rapl", "Test CPU", costs(hourly.LIVE))
    assert not h.keeps_up_live and h.machine_min == 90.0 and h.hardware_cost == pytest.approx(0.75)
    assert "cannot keep up (RTF 1.50 > 1: 90 min of processing per hour of audio)" in h.assumption
    assert "90 min of processing on Test CPU, too slow to keep up" in hourly.sentence(h)


# --- kinds kept -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("label, kind", [
    ("nvml_counter", MEASURED), ("rapl", MEASURED), ("estimate", ESTIMATE), ("rapl, estimate", ESTIMATE),
    ("unavailable", ""), ("", ""), ("published", PUBLISHED), ("projected", PROJECTED), ("a new meter", ESTIMATE),
    ("nvml_counter+rapl", MEASURED), ("nvml_counter+estimate", ESTIMATE), ("nvml_power+unavailable", MEASURED),
])
def test_energy_kind_from_a_source_label(label, kind):
    assert hourly.energy_kind(label) == kind


def test_an_estimated_energy_stays_an_estimate_in_wh_co2e_and_money():
    h = hourly.audio_hour(0.2, 5.0, "estimate", "Test CPU", costs())
    assert (h.energy_kind, h.co2e_kind, h.electricity_cost_kind) == (ESTIMATE,) * 3
    assert h.processing_kind == h.hardware_cost_kind == MEASURED  # the time was measured
    assert hourly.sentence(h).endswith("(energy estimate)")


def test_a_published_speed_without_energy_gives_no_energy():
    h = hourly.from_published(350.0, "NVIDIA A100", costs())
    assert h.processing_min == pytest.approx(60 / 350) and h.processing_kind == h.hardware_cost_kind == PUBLISHED
    assert all(math.isnan(x) for x in (h.energy_wh, h.co2e_g, h.electricity_cost))
    assert h.energy_kind == h.co2e_kind == h.electricity_cost_kind == ""
    assert "no energy figure" in hourly.sentence(h) and hourly.sentence(h).endswith("(speed published)")
    with_power = hourly.from_published(360.0, "NVIDIA A100", costs(), power_w=300.0)
    assert with_power.energy_wh == pytest.approx(300.0 / 360.0) and with_power.energy_kind == ESTIMATE


def test_a_projection_stays_projected():
    h = hourly.from_projection(0.01, 2.0, "NVIDIA H100", costs())
    assert (h.processing_min, h.energy_wh) == (pytest.approx(0.6), 2.0)
    assert {h.processing_kind, h.energy_kind, h.co2e_kind, h.electricity_cost_kind, h.hardware_cost_kind} == {
        PROJECTED}
    assert hourly.sentence(h).endswith("(projected)")


def test_no_speed_gives_no_figures():
    h = hourly.audio_hour(math.nan, 5.0, "rapl", "Test CPU", costs())
    assert math.isnan(h.processing_min) and math.isnan(h.energy_wh) and h.processing_kind == h.energy_kind == ""
    assert hourly.sentence(h) == "One hour of audio like this: no speed figure, so no cost per hour."


# --- words ------------------------------------------------------------------------------------------------

def test_the_sentence(grid):
    h = hourly.audio_hour(0.2, 5.0, "estimate", "Test CPU", costs())
    assert hourly.sentence(h) == ("One hour of audio like this: 12 min on Test CPU · 5.0 Wh · 2.0 g CO2e "
                                  "(Testland) · €0.0015 of electricity · $0.10 of test-gpu time (energy estimate)")
    live = hourly.audio_hour(0.2, 5.0, "rapl", "Test CPU", costs(hourly.LIVE))
    assert hourly.sentence(live).startswith("One hour of live audio like this: the whole hour on Test CPU (12 min of "
                                            "it processing) · 5.0 Wh")
    plain = hourly.audio_hour(0.2, 5.0, "rapl", "Test CPU")  # no grid, no prices
    assert hourly.sentence(plain) == "One hour of audio like this: 12 min on Test CPU · 5.0 Wh"


def test_a_measured_result_and_its_json():
    r = Result(model="m", family="ctc", weights="pretrained", device="cpu", precision="fp32", rtf=0.1,
               energy_per_audio_s_j=2.0, energy_source="estimate", cpu_name="Test CPU", gpu_name="")
    h = hourly.from_result(r, costs())
    assert (h.hardware, h.processing_min, h.energy_wh, h.energy_kind) == ("Test CPU", 6.0, 2.0, ESTIMATE)
    record = json.loads(hourly.result_json(r, h))
    assert record["rtf"] == 0.1 and record["per_audio_hour"]["energy_wh"] == 2.0
    assert record["per_audio_hour"]["assumption"] == h.assumption


# --- settings: checked, one sentence each ------------------------------------------------------------------

def test_settings_from_plain_inputs(grid):
    s = hourly.settings("tst", instance="aws-g4dn.xlarge")
    assert (s.grid_country, s.grid_g_per_kwh, s.mode) == ("TST", 400.0, hourly.BATCH)
    assert s.electricity.label == prices.DEFAULT_ELECTRICITY and s.electricity.currency == "EUR"
    assert (s.machine.amount, s.machine.currency, s.machine.label) == (0.526, "USD", "aws-g4dn.xlarge")
    typed = hourly.settings(price_kwh="0.25", price_hour="1200/20000", instance="aws-m7g.large", currency="gbp",
                            live=True)
    assert (typed.electricity.amount, typed.electricity.currency) == (0.25, "GBP")
    assert typed.machine.amount == pytest.approx(0.06)  # the typed price wins over the instance's
    assert typed.machine.label == "aws-m7g.large"
    assert "instead of the table's price for aws-m7g.large" in typed.machine.source and typed.mode == hourly.LIVE
    assert typed.machine.note == prices.PURCHASE_NOTE
    assert hourly.settings(price_kwh="eu-non-household").electricity.amount == 0.1902


@pytest.mark.parametrize("inputs, sentence", [
    ({"country": "XXX"}, "--co2e 'XXX' is not a country CodeCarbon has grid data for: use an ISO 3166 alpha-3 code "
                         "such as USA or FRA."),
    ({"price_kwh": "-1"}, "--price-kwh must be a finite number ≥ 0, not -1: give a price such as 0.25."),
    ({"price_kwh": "nan"}, "--price-kwh must be a finite number ≥ 0, not nan: give a price such as 0.25."),
    ({"price_kwh": "cheap"}, "--price-kwh 'cheap' is neither a number nor a price in the table: give a price per kWh "
                             "such as 0.25, or one of eu-household, eu-non-household."),
    ({"price_hour": "-2"}, "--price-hour must be a finite number ≥ 0, not -2: give a price such as 0.25."),
    ({"price_hour": "1200/0"}, "--price-hour needs a lifetime of more than 0 hours, not '0': give PRICE/HOURS such as "
                               "1200/20000."),
    ({"instance": "p9.huge"}, "--instance 'p9.huge' is not in the price table: use one of aws-m7g.large, aws-t3.large, "
                              "aws-g4dn.xlarge, aws-g6.xlarge, aws-g5.xlarge, lambda-a100-40gb, lambda-h100-pcie."),
])
def test_bad_inputs_are_refused_with_one_sentence(grid, inputs, sentence):
    with pytest.raises(CostError) as info:
        hourly.settings(**inputs)
    assert str(info.value) == sentence and isinstance(info.value, ValueError)


def test_without_grid_data_co2e_is_refused(monkeypatch):
    monkeypatch.setattr(carbon, "_energy_mix", lambda: None)
    with pytest.raises(CostError, match="CodeCarbon's grid data cannot be read: install codecarbon, or leave out "
                                        "--co2e"):
        hourly.settings("FRA")


# --- a sweep: columns for Explore and Recommend, lines for the summary ----------------------------------------

def _rows(rtfs, source="estimate"):
    return pd.DataFrame([{**Result(model="m", family="whisper", weights="synthetic", device="cpu", precision="fp32",
                                   bucket="5s", rtf=rtf, energy_per_audio_s_j=10 * rtf, energy_source=source,
                                   cpu_name="Test CPU").to_dict(), "repeat": i, "clip_source": "x"}
                         for i, rtf in enumerate(rtfs)])


def test_columns_for_an_aggregated_sweep_frame():
    cells = aggregate(_rows([0.1, 0.3]))  # one cell, two repeats: medians 0.2 and 2 J per audio second
    out = hourly.add_columns(cells, costs())
    row = out.iloc[0]
    assert row["hour_processing_min"] == pytest.approx(12.0) and row["hour_energy_wh"] == pytest.approx(2.0)
    assert row["hour_energy_kind"] == row["hour_co2e_kind"] == ESTIMATE and row["hour_processing_kind"] == MEASURED
    assert row["hour_hardware_cost"] == pytest.approx(0.1) and row["hour_mode"] == hourly.BATCH
    assert list(out.columns[: len(cells.columns)]) == list(cells.columns)
    assert hourly.add_columns(cells.iloc[:0], costs()).empty


def test_summary_lines_per_cell(grid):
    lines = hourly.summary_lines(_rows([0.1, 0.3]), costs())
    assert lines[0].startswith("Per hour of audio (batch: the machine is held only while it processes). CO2e uses "
                               "CodeCarbon's yearly average intensity of Testland's grid, 400 g per kWh.")
    assert lines[1] == ("m transformers cpu fp32 batch 1 5s: 12 min on Test CPU · 2.0 Wh · 0.80 g CO2e (Testland) · "
                        "€0.00060 of electricity · $0.10 of test-gpu time (energy estimate)")
    assert hourly.summary_lines(_rows([]), costs()) == []


# --- the CLI: refused before any model loads; the line and the JSON record ----------------------------------

@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, tone(1.5), 16000)
    return path


@pytest.fixture
def no_model_load(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr(cli, "load_model", refuse)


@pytest.mark.parametrize("flags, message", [
    (["--price-kwh", "-0.2"], "--price-kwh must be a finite number ≥ 0, not -0.2: give a price such as 0.25."),
    (["--price-kwh", "abc"], "--price-kwh 'abc' is neither a number nor a price in the table: give a price per kWh "
                             "such as 0.25, or one of eu-household, eu-non-household."),
    (["--price-hour", "nan"], "--price-hour must be a finite number ≥ 0, not nan: give a price such as 0.25."),
    (["--price-hour", "900/-1"], "--price-hour needs a lifetime of more than 0 hours, not '-1': give PRICE/HOURS such "
                                 "as 1200/20000."),
    (["--instance", "nope"], "--instance 'nope' is not in the price table: use one of aws-m7g.large, aws-t3.large, "
                             "aws-g4dn.xlarge, aws-g6.xlarge, aws-g5.xlarge, lambda-a100-40gb, lambda-h100-pcie."),
    (["--currency", "$"], "--currency '$' is not a currency code: use three letters such as EUR or USD."),
])
def test_the_cli_refuses_bad_prices_before_the_model_loads(capsys, wav, no_model_load, flags, message):
    code = cli.main(["transcribe", str(wav), "--weights", "synthetic", *flags])
    out = capsys.readouterr()
    assert (code, out.out, out.err) == (2, "", f"error: {message}\n")


def test_a_sweep_refuses_a_bad_price_before_anything_runs(capsys, tmp_path):
    out = tmp_path / "o" / "s.parquet"
    assert cli.main(["sweep", "--price-kwh", "-1", "--out", str(out)]) == 2
    assert capsys.readouterr().err == ("error: --price-kwh must be a finite number ≥ 0, not -1: give a price such as "
                                       "0.25.\n")
    assert not out.parent.exists()


def test_the_cli_prints_the_hour_and_puts_it_in_the_json(capsys, tiny_ctc_dir, wav):
    args = ["transcribe", str(wav), "--model", str(tiny_ctc_dir), "--device", "cpu", "--no-flops",
            "--instance", "aws-t3.large"]
    assert cli.main([*args, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    hour = record["per_audio_hour"]
    assert hour["processing_min"] == pytest.approx(record["rtf"] * 60)
    assert hour["energy_wh"] == pytest.approx(record["energy_per_audio_s_j"])  # J per audio s = Wh per audio hour
    assert hour["energy_kind"] == hourly.energy_kind(record["energy_source"]) and hour["mode"] == hourly.BATCH
    assert hour["hardware_cost"] == pytest.approx(record["rtf"] * 0.0832) and hour["hardware_currency"] == "USD"
    assert cli.main([*args, "--live"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("One hour of live audio like this: ") and "of aws-t3.large time" in lines[-2]
    assert lines[-1].startswith("  assumes: Live: ")
