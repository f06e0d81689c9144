"""Chart builders: the data each chart carries, its encodings, and room for its legend."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from asr_app import charts, sweep_views
from asr_core import sweep_table
from asr_core.sampler import PowerSample
from fakes import fake_sweep


@pytest.fixture(scope="module")
def agg() -> pd.DataFrame:
    ok, _ = sweep_table.split_status(sweep_table.validate(fake_sweep(), "fake.parquet"))
    return sweep_views.aggregate(sweep_views.subset(ok, batch_size=1), series_exclude=("batch_size",))


def _spec(chart) -> dict:
    return chart.to_dict()  # validates against the Vega-Lite schema


def _values(chart) -> pd.DataFrame:
    return chart.data if isinstance(chart.data, pd.DataFrame) else chart.layer[0].data


def test_power_frame_labels_model_meter_and_source():
    traces = {"openai/whisper-tiny": [PowerSample(0.05, "cpu", 40.0), PowerSample(0.05, "gpu", 120.0),
                                      PowerSample(0.10, "cpu", 42.0)]}
    frame = charts.power_frame(traces, {"openai/whisper-tiny": {"cpu": "estimate", "gpu": "nvml_counter"}})
    assert frame["series"].tolist() == ["openai/whisper-tiny · CPU (estimate)", "openai/whisper-tiny · GPU (NVML)",
                                        "openai/whisper-tiny · CPU (estimate)"]
    assert frame["watts"].tolist() == [40.0, 120.0, 42.0]
    assert charts.power_frame({}).empty
    unlabeled = charts.power_frame({"m": [PowerSample(0.0, "cpu", 1.0)]})
    assert unlabeled["series"].tolist() == ["m · CPU"]
    local = charts.power_frame({"../shared/models/whisper-tiny.en": [PowerSample(0.0, "cpu", 1.0)]})
    assert local["series"].tolist() == ["whisper-tiny.en (local) · CPU"]  # a folder by its name, never its path


def test_power_frame_names_how_long_each_meter_averages():
    traces = {"m": [PowerSample(0.25, "cpu", 40.0, 0.25), PowerSample(0.3, "gpu", 120.0, 1.0),
                    PowerSample(0.55, "cpu", 41.0, 0.3)]}
    frame = charts.power_frame(traces, {"m": {"cpu": "estimate", "gpu": "nvml_power"}})
    assert frame["series"].tolist() == ["m · CPU (estimate, ~0.25 s average)", "m · GPU (NVML, ~1 s average)",
                                        "m · CPU (estimate, ~0.25 s average)"]  # one series per meter


def test_the_live_chart_s_data_never_exceeds_the_estimate_s_ceiling(monkeypatch, tmp_path):
    """A spiky meter (one tick in a 2 ms gap, a 2 s children's lump reaped at once) through the monitor that
    feeds the live chart: every watt the chart gets is at most the estimate's 85 W."""
    from asr_core import hardware
    from asr_core.energy import EnergyMonitor
    from asr_core.hardware import CpuEstimator
    from meter_fakes import N_CORES, TDP_W, TICK_S, TickingProcess
    from test_energy import FakeClock
    monkeypatch.setattr(hardware, "POWERCAP_ROOT", tmp_path / "absent")  # the estimate, also where RAPL is readable
    clock, seen = FakeClock(), []
    proc = TickingProcess(clock, own_cores=1.9)
    mon = EnergyMonitor(cpu_estimator=CpuEstimator(TDP_W, process=proc, n_cores=N_CORES, tick_s=TICK_S),
                        clock=clock, on_sample=seen.append)
    for t in [k * 0.05 for k in range(60)] + [3.0 - 0.002 + k * 0.001 for k in range(3)]:
        clock.t = t
        proc.reaped_s = 2.0 if t >= 1.0 else 0.0
        mon.sampler.sample_once()
    frame = charts.power_frame({"m": seen}, {"m": mon.sources})
    assert len(frame) >= 10 and frame["watts"].max() <= TDP_W


def test_power_chart_is_a_line_over_time():
    frame = charts.power_frame({"m": [PowerSample(t / 10, "cpu", 40 + t) for t in range(5)]})
    spec = _spec(charts.power_chart(frame))
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"]["field"] == "t_s" and spec["encoding"]["y"]["field"] == "watts"
    assert spec["height"] == charts.POWER_PLOT_PX + charts.CHROME_PX + 2 * charts.LEGEND_ROW_PX  # two-line labels


def test_power_chart_legend_splits_a_runs_label_from_its_meter_so_neither_is_cut_off():
    frame = charts.power_frame({"whisper-tiny · batch 8": [PowerSample(t / 10, "cpu", 40 + t) for t in range(5)]},
                               {"whisper-tiny · batch 8": {"cpu": "estimate"}})
    legend = _spec(charts.power_chart(frame))["encoding"]["color"]["legend"]
    assert "lastindexof(datum.label, ' · ')" in legend["labelExpr"]  # 'whisper-tiny · batch 8' / 'CPU (estimate)'
    big = charts.sized(charts.power_chart(frame), class_mode=True, class_height=charts.CLASS_POWER_PX).to_dict()
    assert big["height"] == charts.CLASS_POWER_PX  # class mode: a whole height that stays in view beside Run


def test_run_labels_are_never_cut_off():
    stages = pd.DataFrame({"label": ["whisper-tiny.en (local) · batch 8 · int8 · ctranslate2"] * 2,
                           "stage": ["encoder", "decoder"], "seconds": [1.0, 2.0]})
    assert _spec(charts.stage_chart(stages))["encoding"]["y"]["axis"]["labelLimit"] == 0


def test_power_chart_shades_the_warm_up_and_what_follows_the_run():
    frame = charts.power_frame({"m": [PowerSample(t / 10, "cpu", 40 + t) for t in range(30)]})
    running = charts.unmeasured_frame(frame, {"m": (1.2, float("nan"))})  # still measuring: no end yet
    assert running.to_dict("records") == [{"start_s": 0.0, "end_s": 1.2, "label": charts.WARM_UP_LABEL}]
    done = charts.unmeasured_frame(frame, {"m": (1.2, 2.5)})
    assert done["label"].tolist() == ["warm-up (not measured)", "after the run (not measured)"]
    assert done["end_s"].tolist() == pytest.approx([1.2, 2.9])
    assert charts.unmeasured_frame(frame, {"m": (float("nan"), float("nan"))}).empty  # not measuring yet
    spec = _spec(charts.power_chart(frame, {"m": (1.2, 2.5)}))
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rect", "text", "text", "line"]
    assert spec["layer"][0]["encoding"]["x2"]["field"] == "end_s"
    assert spec["height"] == charts.POWER_PLOT_PX + charts.CHROME_PX + 2 * charts.LEGEND_ROW_PX  # two-line labels
    assert "layer" not in _spec(charts.power_chart(frame))  # without a span: the lines alone


def test_sweep_charts_keep_their_plot_height_whatever_the_legend(agg):
    """The spec's height is the plot's (fit-x: the legend is added below it, the width fits the page), so a chart of
    many series is as tall a plot as one of few; Streamlit would otherwise squeeze the plot into the spec's height."""
    few = _spec(charts.by_length(agg.head(4), "rtf", "t", ["5s"]))
    many = _spec(charts.by_length(agg, "rtf", "t", ["5s"]))
    assert few["height"] == many["height"] == charts.SWEEP_PLOT_PX
    assert many["autosize"] == {"type": "fit-x", "contains": "padding"}
    for chart in (charts.by_batch(agg, "rtf", "t"), charts.latency_vs_flops(agg),
                  charts.tradeoff(sweep_views.tradeoff(agg, "rtf"), "rtf", "t")):
        spec = _spec(chart)
        assert spec["height"] == charts.SWEEP_PLOT_PX and spec["autosize"]["type"] == "fit-x"


def test_every_category_label_is_drawn_and_long_ones_break_in_two(agg):
    spec = _spec(charts.by_length(agg, "rtf", "Real-time factor", ["5s", "15s", "30s", "60s"], subtitle="log scale"))
    assert spec["encoding"]["x"]["axis"]["labelOverlap"] is False  # 15s and 60s are never dropped
    assert spec["title"] == {"text": "Real-time factor", "subtitle": "log scale", "anchor": "start", "fontSize": 15,
                             "subtitleFontSize": 12, "subtitleColor": charts.LABEL_GREY}
    published = pd.DataFrame({"model": ["openai/whisper-base"], "benchmark": ["LibriSpeech test-other"],
                              "wer": [0.05], "source": ["s"], "series": ["openai/whisper-base (published)"]})
    wer = _spec(charts.wer_with_published(agg.dropna(subset=["wer"]), published, "WER", ["5s", "15s"]))
    axis = wer["layer"][0]["encoding"]["x"]["axis"]
    assert axis["labelOverlap"] is False and "split" not in axis["labelExpr"] and "substring" in axis["labelExpr"]
    assert wer["layer"][0]["encoding"]["x"]["sort"] == ["5s", "15s", "LibriSpeech test-other"]


def test_published_diamonds_have_a_legend_entry_of_their_own(agg):
    measured = agg.dropna(subset=["wer"])
    published = pd.DataFrame({"model": ["openai/whisper-small"], "benchmark": ["LibriSpeech test-clean"],
                              "wer": [0.03], "source": ["s"], "series": ["openai/whisper-small (published)"]})
    chart = charts.polish(charts.wer_with_published(measured, published, "WER", ["5s"]),
                          sweep_views.colour_domain(measured, published))
    spec = _spec(chart)
    legends = [layer["encoding"]["color"]["legend"].get("values") for layer in spec["layer"]]
    assert all("openai/whisper-small (published)" in values for values in legends)  # a model we did not measure
    shapes = {layer["mark"].get("filled"): layer["encoding"]["shape"]["scale"] for layer in spec["layer"]
              if "shape" in layer["encoding"]}
    assert shapes[False] == {"domain": [charts.MEASURED_MARK, charts.PUBLISHED_MARK], "range": ["circle", "diamond"]}


def test_devices_side_by_side_keep_each_kind_as_its_own_mark():
    frame = pd.DataFrame({"kind": ["measured", "projected", "published"], "device": ["CPU", "T4", "T4"],
                          "model_name": ["m"] * 3, "minutes_per_audio_h": [6.0, 1.0, 0.5],
                          "validation_error": ["", "±10% median", ""], "source": ["sweep", "cost model", "paper"]})
    spec = _spec(charts.by_device(frame, "minutes_per_audio_h", "Minutes", ["CPU", "T4"],
                                  subtitle=["Projected on T4: ..."]))
    filters = [layer["transform"][0]["filter"] for layer in spec["layer"]]
    assert filters == ["(datum.kind === 'measured')", "(datum.kind === 'projected')", "(datum.kind === 'published')"]
    assert spec["layer"][0]["encoding"]["shape"]["scale"]["range"] == ["square", "circle", "diamond"]
    tips = {t["field"] for t in spec["layer"][1]["encoding"]["tooltip"]}
    assert {"kind", "validation_error", "source", "minutes_per_audio_h"} <= tips
    assert spec["title"]["subtitle"] == ["Projected on T4: ..."] and spec["height"] == charts.SWEEP_PLOT_PX


def test_by_length_orders_buckets_and_uses_log_scale(agg):
    order = sweep_views.bucket_order(agg)
    spec = _spec(charts.by_length(agg, "latency_per_utt_s", "Latency", order, log=True))
    assert spec["encoding"]["x"]["sort"] == ["5s", "15s", "30s", "60s"]
    assert spec["encoding"]["y"]["scale"]["type"] == "log"
    tips = [t["field"] for t in spec["encoding"]["tooltip"]]
    assert {"model", "device", "latency_per_utt_s", "energy_source", "n_runs"} <= set(tips)


def test_wer_axis_is_a_percentage(agg):
    spec = _spec(charts.by_length(agg.dropna(subset=["wer"]), "wer", "WER", ["5s"]))
    assert spec["encoding"]["y"]["axis"]["format"] == "%"


def test_batch_charts_convert_memory_to_mib(agg):
    chart = charts.by_batch(agg, "peak_memory_mib", "Memory")
    data = _values(chart)
    assert data["peak_memory_mib"].tolist() == pytest.approx((agg["peak_memory_bytes"] / 2**20).tolist())
    assert _spec(chart)["encoding"]["x"]["scale"] == {"type": "log", "base": 2}


def test_latency_vs_flops_is_log_log(agg):
    spec = _spec(charts.latency_vs_flops(agg))
    assert spec["encoding"]["x"]["scale"]["type"] == "log" and spec["encoding"]["y"]["scale"]["type"] == "log"
    assert spec["encoding"]["shape"]["field"] == "device"


def test_tradeoff_layers_front_points_and_pick(agg):
    points = sweep_views.tradeoff(agg, "energy_per_audio_s_j")
    plain = _spec(charts.tradeoff(points, "energy_per_audio_s_j", "t"))
    assert len(plain["layer"]) == 2  # dashed front line + points
    assert plain["layer"][0]["transform"] == [{"filter": "datum.pareto"}]
    assert plain["layer"][0]["mark"]["strokeDash"] == [4, 3]
    picked = points.assign(pick=points.index == points.index[0])
    spec = _spec(charts.tradeoff(picked, "energy_per_audio_s_j", "t"))
    assert len(spec["layer"]) == 4  # + ring and label for the pick


def test_stage_chart_stacks_in_pipeline_order():
    frame = pd.DataFrame({"label": ["a"] * 3, "stage": ["decoder", "preprocess", "encoder"],
                          "seconds": [3.0, 1.0, 2.0]})
    chart = charts.stage_chart(frame)
    spec = _spec(chart)
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["x"]["stack"] == "zero"
    assert spec["encoding"]["color"]["scale"]["domain"] == ["preprocess", "encoder", "decoder"]
    assert _values(chart).sort_values("stage_order")["stage"].tolist() == ["preprocess", "encoder", "decoder"]


# --- the session's runs, class mode, export -------------------------------------------------------------

@pytest.fixture
def session() -> pd.DataFrame:
    return pd.DataFrame({"run": ["1. tiny · batch 1", "2. tiny · batch 8"], "clip": ["a", "a"],
                         "latency_per_utt_s": [0.6, 0.3], "energy_per_utt_j": [29.0, 23.0],
                         "energy_source": ["estimate", "measured: rapl"]})


def test_session_chart_has_a_bar_per_run_and_colours_energy_by_its_source(session):
    latency = _spec(charts.session_chart(session, "latency_per_utt_s", "Latency"))
    assert latency["mark"]["type"] == "bar" and latency["encoding"]["y"]["field"] == "run"
    assert "color" not in latency["encoding"] or "field" not in latency["encoding"]["color"]
    energy = _spec(charts.session_chart(session, "energy_per_utt_j", "Energy"))
    assert energy["encoding"]["color"]["field"] == "energy_source"
    assert any(t.get("field") == "energy_source" for t in energy["encoding"]["tooltip"])
    assert list(_values(charts.session_chart(session, "energy_per_utt_j", "Energy"))["run"]) == list(session["run"])


def test_large_charts_have_larger_type_and_room_for_it(session):
    chart = charts.session_chart(session, "latency_per_utt_s", "Latency")
    big = _spec(charts.large(chart))
    assert big["config"]["axis"]["labelFontSize"] == charts.LARGE_FONT_PX
    assert big["height"] == chart.height + charts.LARGE_CHROME_PX


def test_charts_export_as_png_and_svg_offline(session):
    chart = charts.session_chart(session, "energy_per_utt_j", "Energy per utterance")
    png = charts.png(chart)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    svg = charts.svg(chart)
    assert svg.lstrip().startswith("<svg") and "Energy per utterance" in svg and "measured: rapl" in svg


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    return sweep_table.validate(fake_sweep(), "fake.parquet")


def _layers(spec: dict) -> list[dict]:
    return spec.get("layer", [spec])


def test_polished_charts_have_readable_tooltips_fixed_colours_and_no_nominal_size(sweep):
    ok, _ = sweep_table.split_status(sweep)
    agg = sweep_views.aggregate(sweep_views.subset(ok, bucket="5s"))
    points = sweep_views.tradeoff(agg, "rtf")
    domain = sweep_views.colour_domain(agg)
    assert domain == sorted(agg["series"].unique()) and len(domain) > len(set(points["series"])) - 1
    spec = charts.polish(charts.tradeoff(points, "rtf", "t"), domain).to_dict()
    dots = next(layer for layer in _layers(spec) if "tooltip" in layer.get("encoding", {}))
    titles = [t.get("title", t["field"]) for t in dots["encoding"]["tooltip"]]
    assert titles[:2] == ["model", "runtime"] and "batch size" in titles and "runs" in titles
    assert not {"batch_size", "n_runs", "model", "pareto"} & {t["field"] for t in dots["encoding"]["tooltip"]
                                                               if "title" not in t}
    assert dots["encoding"]["color"]["scale"]["domain"] == domain
    assert dots["encoding"]["color"]["legend"]["values"] == sorted(points["series"].unique())  # drawn ones only
    assert dots["encoding"]["size"]["type"] == "ordinal"
    assert dots["encoding"]["size"]["legend"]["symbolFillColor"] == charts.SYMBOL_GREY
    line = charts.polish(charts.by_length(agg, "rtf", "t", ["5s"]), domain).to_dict()
    assert line["encoding"]["color"]["scale"]["domain"] == domain
    assert json.loads(charts.spec_json(charts.polish(charts.by_length(agg, "rtf", "t", ["5s"]))))["datasets"]

