"""Altair chart builders for the app, the one module that imports Altair. Each takes a tidy DataFrame and returns
a chart; ``polish`` gives any chart readable tooltips and fixed series colours; ``png``/``svg``/``spec_json``
export one.

The data preparation lives in ``asr_core.sweep_table`` and ``asr_app.sweep_views`` (sweeps) and here (power
traces), so tests check the numbers without rendering; these functions only choose marks, scales and tooltips.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import altair as alt
import pandas as pd
import vl_convert

from asr_core.energy_sources import ESTIMATE, NVML_COUNTER, NVML_POWER, RAPL
from asr_core.sampler import PowerSample

from . import hour_view
from .inputs import MODEL_NAME, model_label
from .present import MIB
from .sweep_views import colour_domain

POWER_PLOT_PX = 150  # short enough that the chart, with its two-line legend, stays in view beside Run at 720 px
CLASS_POWER_PX = 360  # class mode: the live power chart's whole height, to stay in view beside Run at 720 px
BAR_PX = 30  # per bar of the stage chart
# Streamlit sizes an Altair chart's *whole* height (title, axes, legend) to the spec's height, so
# each builder adds room for those around the plot: a fixed allowance plus one row per legend entry.
CHROME_PX = 160
LEGEND_ROW_PX = 20
LEGEND_FONT_PX = 12
# Sweep charts (Explore, Recommend) keep a fixed plot area whatever their legend: the spec's height is the plot's,
# and the axes, title and legend are added around it (fit the width to the page only), so a chart of 18 series is
# as readable at 1280×720 as one of 3 (Streamlit would otherwise squeeze the plot to make room for the legend).
SWEEP_PLOT_PX = 230
FIT_WIDTH = {"type": "fit-x", "contains": "padding"}
CHART_PADDING = {"top": 8, "left": 5, "right": 5, "bottom": 5}  # room above the title's tallest letters
TITLE_PX = 15
SUBTITLE_PX = 12
MEASURED_MARK = "measured here"
PUBLISHED_MARK = "published (tooltip: source)"
STAGE_COLOURS = {"preprocess": "#8da0cb", "encoder": "#fc8d62", "decoder": "#66c2a5", "CTC head": "#a6d854"}
SOURCE_NAMES = {"gpu": "GPU", "cpu": "CPU"}
SOURCE_DETAIL = {ESTIMATE: "estimate", RAPL: "RAPL", NVML_COUNTER: "NVML", NVML_POWER: "NVML"}
PICK_COLOUR = "#d62728"
UNMEASURED_COLOUR = "#9e9e9e"
WARM_UP_LABEL = "warm-up (not measured)"
AFTER_LABEL = "after the run (not measured)"
FRONT_COLOUR = "#555555"
LABEL_GREY = "#8a8a8a"  # text on a chart: over 3:1 against both Streamlit's light and dark backgrounds
# column -> (axis title, tooltip format)
FIELDS = {
    "wer": ("WER", ".1%"), "cer": ("CER", ".1%"),
    "latency_per_utt_s": ("latency per utterance (s)", ".3g"), "rtf": ("RTF (processing s / audio s)", ".3g"),
    "energy_per_utt_j": ("energy per utterance (J)", ".3g"),
    "energy_per_audio_s_j": ("energy per audio second (J)", ".3g"),
    "throughput_audio_s_per_s": ("throughput (audio s per s)", ".3g"),
    "peak_memory_mib": ("peak memory (MiB)", ".0f"), "flops_per_utt": ("FLOPs per utterance", ".3s"),
    "hour_processing_min": ("minutes of processing per hour of audio", ".2g"),
    "hour_energy_wh": ("Wh per hour of audio", ".2g"), "hour_co2e_g": ("g CO2e per hour of audio", ".2g"),
    "hour_electricity_cost": ("electricity per hour of audio", ".2g"),
    "hour_hardware_cost": ("machine time per hour of audio", ".2g"),
    "minutes_per_audio_h": ("minutes of processing per hour of audio", ".2g"),
    "wh_per_audio_h": ("Wh per hour of audio", ".2g"),
}
# per-hour column -> its kind column, shown beside it in a tooltip (an estimate stays an estimate)
HOUR_KINDS = {column: kind for column, (_, kind) in hour_view.METRICS.items()}
PNG_SCALE = 2  # exported PNGs at twice the screen's pixels: sharp on slides
LARGE_FONT_PX = 18  # class mode: axis and legend text the back row can read …
LARGE_CHROME_PX = 90  # … and the room that larger text takes around the plot
SESSION_BAR_PX = 28  # per run of the session chart
CONFIG_TOOLTIP = ["model", "weights", "device", "precision", "batch_size", "bucket"]
SYMBOL_GREY = "#9e9e9e"  # legend symbols that carry no colour of their own: legible on light and dark themes
# chart field -> tooltip title, where the chart's own title is a raw column name
TOOLTIP_TITLES = {MODEL_NAME: "model", "runtime": "runtime", "weights": "weights", "device": "device",
                  "precision": "precision", "batch_size": "batch size", "bucket": "clip length",
                  "clip_s": "mean clip length (s)", "energy_source": "energy source", "n_runs": "runs",
                  "pareto": "on the Pareto front", "label": "configuration", "stage": "stage"}
CONFIG_FIELDS = ("model", MODEL_NAME, "runtime", "weights", "device", "precision", "batch_size", "bucket")


def _legend() -> alt.Legend:
    return alt.Legend(orient="bottom", columns=1, labelLimit=600, title=None, offset=4, symbolSize=60,
                      labelFontSize=LEGEND_FONT_PX, rowPadding=LEGEND_ROW_PX - LEGEND_FONT_PX - 3)


def _two_line_legend() -> alt.Legend:
    """_legend(), each label on two lines, split at its last ' · ' ('whisper-tiny · batch 8' / 'CPU (estimate, …)'):
    a run's label and its meter together are wider than the narrow column the live power chart sits in."""
    cut = "lastindexof(datum.label, ' · ')"
    return alt.Legend(**{**_legend().to_dict(), "rowPadding": LEGEND_ROW_PX - LEGEND_FONT_PX,
                         "labelExpr": f"{cut} < 0 ? datum.label : [slice(datum.label, 0, {cut}), "
                                      f"slice(datum.label, {cut} + 3)]"})


def scheme_for(n_series: int) -> str:
    """A palette whose neighbours differ (Streamlit's pairs light and dark shades), large enough for n series."""
    return "tableau10" if n_series <= 10 else "tableau20"


def _colour(df: pd.DataFrame) -> alt.Color:
    return alt.Color("series", type="nominal", legend=_legend(), scale=alt.Scale(scheme=scheme_for(_n(df, "series"))))


def _fixed(chart: alt.TopLevelMixin, plot_px: int = SWEEP_PLOT_PX) -> alt.TopLevelMixin:
    """A sweep chart with a fixed plot area: its legend, axes and title add height, its width fits the page."""
    return chart.properties(height=plot_px, autosize=FIT_WIDTH, padding=CHART_PADDING)


def _title(text: str, subtitle: str | Sequence[str] = "") -> alt.TitleParams:
    """A title that starts at the left edge, with the detail (scale, units, caveats) on its own line(s) below."""
    return alt.TitleParams(text, subtitle=subtitle or alt.Undefined, anchor="start", fontSize=TITLE_PX,
                           subtitleFontSize=SUBTITLE_PX, subtitleColor=LABEL_GREY)


def _category_axis(title: str, two_lines: bool = False) -> alt.Axis:
    """Every category labelled, level: Vega-Lite drops labels it thinks overlap (15s, 60s, test-other went
    missing), so overlap is allowed; long labels break after their first word."""
    expr = ("indexof(datum.label, ' ') < 0 ? datum.label : [substring(datum.label, 0, indexof(datum.label, ' ')), "
            "substring(datum.label, indexof(datum.label, ' ') + 1)]") if two_lines else alt.Undefined
    return alt.Axis(title=title, labelAngle=0, labelOverlap=False, labelLimit=160, labelExpr=expr)


def _height(plot_px: int, *legend_entries: int) -> int:
    """Total chart height for a plot of plot_px with bottom legends of these many entries."""
    return plot_px + CHROME_PX + LEGEND_ROW_PX * sum(legend_entries)


def _n(df: pd.DataFrame, col: str) -> int:
    return int(df[col].nunique()) if col in df.columns else 0


def _tooltip(df: pd.DataFrame, *extra: str) -> list[alt.Tooltip]:
    cols = [c for c in CONFIG_TOOLTIP if c in df.columns]
    tips = [alt.Tooltip(c, type="nominal") for c in cols]
    for c in extra:
        if c in df.columns:
            title, fmt = FIELDS.get(c, (c, ""))
            tips.append(alt.Tooltip(c, title=title, format=fmt) if fmt and c != "energy_source" else
                        alt.Tooltip(c, title=title))
    for c in ("energy_source", "n_runs"):
        if c in df.columns and c not in extra:
            tips.append(alt.Tooltip(c, title=c.replace("_", " ")))
    return tips


def _y(col: str, log: bool = False, title: str | None = None) -> alt.Y:
    name, fmt = FIELDS.get(col, (col, ".3g"))
    axis = alt.Axis(format="%" if fmt.endswith("%") else alt.Undefined, title=title or name)
    return alt.Y(col, type="quantitative", scale=alt.Scale(type="log") if log else alt.Undefined, axis=axis)


# --- live power ----------------------------------------------------------------------------------

def power_frame(traces: Mapping[str, Sequence[PowerSample]],
                sources: Mapping[str, Mapping[str, str]] | None = None) -> pd.DataFrame:
    """Long table (t_s, watts, series) over each model's trace; series names model, meter, source and how long
    the meter's readings average over (the CPU estimate's window, NVML's ~1 s)."""
    rows = []
    for model, samples in traces.items():
        src, averages = (sources or {}).get(model, {}), _averages(samples)
        for s in samples:
            notes = [n for n in (SOURCE_DETAIL.get(src.get(s.source, ""), ""), averages.get(s.source, "")) if n]
            meter = SOURCE_NAMES.get(s.source, s.source) + (f" ({', '.join(notes)})" if notes else "")
            rows.append({"t_s": s.t_s, "watts": s.watts, "series": f"{model_label(model)} · {meter}"})
    # typed even when empty (a run's first redraw): Altair warns in the server log about a column it cannot type
    return pd.DataFrame(rows, columns=["t_s", "watts", "series"]).astype({"t_s": float, "watts": float, "series": str})


def _averages(samples: Sequence[PowerSample]) -> dict[str, str]:
    """Source -> how long its readings average over, as the legend says it (the shortest window)."""
    shortest: dict[str, float] = {}
    for s in samples:
        if s.window_s > 0:
            shortest[s.source] = min(s.window_s, shortest.get(s.source, s.window_s))
    return {source: f"~{w:.2g} s average" for source, w in shortest.items()}


def unmeasured_frame(frame: pd.DataFrame, spans: Mapping[str, tuple[float, float]]) -> pd.DataFrame:
    """The stretches of the power trace outside the timed run: (start_s, end_s, label) rows.

    spans: model -> (measured_from_s, measured_to_s) on its trace's clock; an end not known yet (NaN, the run
    is still going) leaves the stretch after the run out. Models overlaid on one clock share one shaded
    warm-up up to the latest start, so the shading never hides a measured sample of another model.
    """
    known = [(a, b) for a, b in spans.values() if a == a]  # NaN != NaN: not measuring yet
    rows = []
    if known and not frame.empty:
        start = max(a for a, _ in known)
        rows.append({"start_s": 0.0, "end_s": start, "label": WARM_UP_LABEL})
        ends = [b for _, b in known]
        if all(b == b for b in ends) and frame["t_s"].max() > max(ends):
            rows.append({"start_s": max(ends), "end_s": float(frame["t_s"].max()), "label": AFTER_LABEL})
    return pd.DataFrame(rows, columns=["start_s", "end_s", "label"])


def power_chart(frame: pd.DataFrame, spans: Mapping[str, tuple[float, float]] | None = None) -> alt.Chart | alt.LayerChart:
    """Power over time since each run's monitor started, one line per model and meter; the stretches
    outside the timed run (warm-up before, FLOP counting after) shaded grey and labelled 'not measured'."""
    height = _height(POWER_PLOT_PX, 2 * _n(frame, "series"))  # two lines per legend entry
    x = alt.X("t_s", type="quantitative", title="time since start (s)")
    lines = alt.Chart(frame).mark_line(interpolate="monotone").encode(
        x=x, y=alt.Y("watts", type="quantitative", title="power (W)"),
        color=alt.Color("series", type="nominal", legend=_two_line_legend(),
                        scale=alt.Scale(scheme=scheme_for(_n(frame, "series")))),
        tooltip=[alt.Tooltip("series", title="meter"), alt.Tooltip("t_s", format=".2f", title="t (s)"),
                 alt.Tooltip("watts", format=".1f", title="W")],
    )
    shaded = unmeasured_frame(frame, spans or {})
    if shaded.empty:
        return lines.properties(height=height, title="Power during the run")
    base = alt.Chart(shaded)
    band = base.mark_rect(color=UNMEASURED_COLOUR, opacity=0.18).encode(
        x=alt.X("start_s", type="quantitative"), x2="end_s", tooltip=[alt.Tooltip("label", title="")])
    # the warm-up's label top left of its band, the other's bottom right of its own: they never overlap
    warm_up = base.transform_filter(alt.datum.label == WARM_UP_LABEL).mark_text(
        align="left", baseline="top", dx=3, dy=3, fontSize=11, color=LABEL_GREY).encode(
        x=alt.X("start_s", type="quantitative"), y=alt.value(0), text="label")
    after = base.transform_filter(alt.datum.label == AFTER_LABEL).mark_text(
        align="right", baseline="bottom", dx=-3, dy=-3, fontSize=11, color=LABEL_GREY).encode(
        x=alt.X("end_s", type="quantitative"), y=alt.value(alt.expr("height")), text="label")  # the plot's bottom
    return alt.layer(band, warm_up, after, lines, height=height, title="Power during the run")


# --- stages --------------------------------------------------------------------------------------

def stage_chart(frame: pd.DataFrame, title: str = "Where the time goes", unit: str = "s per utterance") -> alt.Chart:
    """Stacked horizontal bars: preprocess / encoder / decoder (or CTC head) seconds per label."""
    stages = [s for s in STAGE_COLOURS if s in set(frame["stage"])]
    order = {s: i for i, s in enumerate(STAGE_COLOURS)}
    frame = frame.assign(stage_order=frame["stage"].map(order))
    height = _height(BAR_PX * _n(frame, "label"), 1)
    return alt.Chart(frame, title=title, height=height, padding=CHART_PADDING).mark_bar().encode(
        y=alt.Y("label", type="nominal", title=None, sort=None, axis=alt.Axis(labelLimit=0)),  # 0: never cut
        x=alt.X("seconds", type="quantitative", title=unit, stack="zero"),
        color=alt.Color("stage", type="nominal", legend=alt.Legend(orient="bottom", title=None, direction="horizontal"),
                        scale=alt.Scale(domain=stages, range=[STAGE_COLOURS[s] for s in stages])),
        order=alt.Order("stage_order", type="quantitative"),
        tooltip=["label", "stage", alt.Tooltip("seconds", format=".3g", title=unit)],
    )


# --- sweep charts --------------------------------------------------------------------------------

def by_length(agg: pd.DataFrame, y: str, title: str, order: Sequence[str], log: bool = False,
              subtitle: str | Sequence[str] = "", y_title: str | None = None,
              extra_tips: Sequence[str] = ()) -> alt.Chart:
    """One line per configuration series over the clip-length buckets; a fixed plot area (_fixed)."""
    chart = alt.Chart(agg, title=_title(title, subtitle)).mark_line(point=True).encode(
        x=alt.X("bucket", type="ordinal", sort=list(order), axis=_category_axis("clip length (bucket)")),
        y=_y(y, log, y_title),
        color=_colour(agg),
        tooltip=[*_tooltip(agg, y, "clip_s"), *_hour_tips(agg, y, extra_tips)],
    )
    return _fixed(chart)


def _hour_tips(df: pd.DataFrame, y: str, extra: Sequence[str]) -> list[alt.Tooltip]:
    """A per-hour figure's kind and sources beside it (columns hour_view adds), and any other columns asked for."""
    cols = [c for c in (HOUR_KINDS.get(y, ""), *extra) if c and c in df.columns]
    return [alt.Tooltip(c, type="nominal", title=c.removeprefix("hour_").replace("_", " ")) for c in cols]


def by_batch(agg: pd.DataFrame, y: str, title: str, log: bool = False) -> alt.Chart:
    """One line per configuration series over batch size (log2 axis)."""
    data = _with_mib(agg) if y == "peak_memory_mib" else agg
    return _fixed(alt.Chart(data, title=_title(title)).mark_line(point=True).encode(
        x=alt.X("batch_size", type="quantitative", scale=alt.Scale(type="log", base=2), title="batch size",
                axis=alt.Axis(values=sorted(data["batch_size"].unique().tolist()) or alt.Undefined, labelOverlap=False)),
        y=_y(y, log),
        color=_colour(data),
        tooltip=_tooltip(data, y),
    ))


def _with_mib(agg: pd.DataFrame) -> pd.DataFrame:
    return agg.assign(peak_memory_mib=agg["peak_memory_bytes"] / MIB)


def latency_vs_flops(agg: pd.DataFrame) -> alt.Chart:
    """Latency per utterance against FLOPs per utterance, log-log; shape marks the device."""
    return _fixed(alt.Chart(agg, title=_title("Latency vs FLOPs")).mark_point(filled=True, size=70).encode(
        x=alt.X("flops_per_utt", type="quantitative", scale=alt.Scale(type="log"), title=FIELDS["flops_per_utt"][0],
                axis=alt.Axis(format="~s")),
        y=_y("latency_per_utt_s", log=True),
        color=_colour(agg),
        shape=alt.Shape("device", type="nominal", legend=alt.Legend(orient="bottom", direction="horizontal")),
        tooltip=_tooltip(agg, "flops_per_utt", "latency_per_utt_s"),
    ))


def tradeoff(points: pd.DataFrame, cost: str, title: str, log: bool = True, x_title: str | None = None,
             subtitle: str | Sequence[str] = "") -> alt.LayerChart:
    """WER against a cost; the Pareto front (column 'pareto') joined by a line, a 'pick' ringed."""
    base = alt.Chart(points)
    x = alt.X(cost, type="quantitative", scale=alt.Scale(type="log") if log else alt.Undefined,
              title=x_title or FIELDS.get(cost, (cost,))[0])
    dots = base.mark_point(filled=True, opacity=0.85).encode(
        x=x, y=_y("wer"),
        color=_colour(points),
        size=alt.Size("pareto", type="nominal", scale=alt.Scale(domain=[False, True], range=[50, 180]),
                      legend=alt.Legend(title=None, orient="bottom", direction="horizontal",
                                        labelExpr="datum.label == 'true' ? 'on the Pareto front' : 'dominated'")),
        tooltip=[*_tooltip(points, "wer", cost, "pareto"), *_hour_tips(points, cost, ("hour_sources",))],
    )
    front = base.transform_filter(alt.datum.pareto).mark_line(
        color=FRONT_COLOUR, strokeDash=[4, 3], interpolate="step-after").encode(x=x, y=_y("wer"))
    layers = [front, dots]
    if "pick" in points.columns and points["pick"].any():
        pick = base.transform_filter(alt.datum.pick)
        layers += [pick.mark_point(size=500, strokeWidth=2.5, color=PICK_COLOUR, filled=False).encode(x=x, y=_y("wer")),
                   pick.mark_text(dy=-18, color=PICK_COLOUR, fontWeight="bold", text="pick").encode(x=x, y=_y("wer"))]
    return _fixed(alt.layer(*layers, title=_title(title, subtitle)))


# --- published accuracy beside measured ------------------------------------------------------------

PUBLISHED_SHAPE = "diamond"
PUBLISHED_TOOLTIP = {"series": "published", "benchmark": "benchmark", "source": "source",
                     "normaliser": "normaliser", "decoding": "decoding", "note": "note"}


def _published_tooltip(df: pd.DataFrame) -> list[alt.Tooltip]:
    tips = [alt.Tooltip(c, type="nominal", title=t) for c, t in PUBLISHED_TOOLTIP.items() if c in df.columns]
    return [*tips[:2], alt.Tooltip("wer", title="published WER", format=".1%"), *tips[2:]]


def wer_with_published(measured: pd.DataFrame, published: pd.DataFrame, title: str,
                       order: Sequence[str], subtitle: str | Sequence[str] = "") -> alt.LayerChart:
    """Measured WER by clip length (lines), and published WER at each benchmark to the right of the buckets
    as hollow diamonds whose tooltip names the source. The two are separate marks, never combined."""
    x_order = [*order, *sorted(published["benchmark"].unique())] if len(published) else list(order)
    x = alt.X("x", type="ordinal", sort=x_order, axis=_category_axis("clip length (bucket) · published benchmark",
                                                                      two_lines=True))
    kinds = [k for k, frame in ((MEASURED_MARK, measured), (PUBLISHED_MARK, published)) if len(frame)]
    shape = alt.Shape("mark_kind", type="nominal", scale=alt.Scale(domain=kinds, range=[
        "circle" if k == MEASURED_MARK else PUBLISHED_SHAPE for k in kinds]),
        legend=alt.Legend(title=None, orient="bottom", direction="horizontal", labelLimit=400, symbolFillColor=None))
    data = measured.assign(x=measured["bucket"], mark_kind=MEASURED_MARK)
    layers = []
    if len(measured):
        layers += [alt.Chart(data).mark_line().encode(x=x, y=_y("wer"), color=_colour(measured)),
                   alt.Chart(data).mark_point(filled=True, size=50).encode(
                       x=x, y=_y("wer"), color=_colour(measured), shape=shape,
                       tooltip=_tooltip(measured, "wer", "clip_s"))]
    if len(published):
        layers.append(alt.Chart(published.assign(x=published["benchmark"], mark_kind=PUBLISHED_MARK)).mark_point(
            shape=PUBLISHED_SHAPE, filled=False, size=120, strokeWidth=2).encode(
            x=x, y=_y("wer"), color=_colour(published), shape=shape, tooltip=_published_tooltip(published)))
    return _fixed(alt.layer(*layers, title=_title(title, subtitle)))


def tradeoff_with_published(points: pd.DataFrame, cost: str, title: str, log: bool = True) -> alt.LayerChart:
    """tradeoff(), with a hollow diamond around each point whose WER is published, not measured here."""
    chart = tradeoff(points, cost, title, log)
    if "wer_kind" not in points.columns or not (points["wer_kind"] == "published").any():
        return chart
    x = alt.X(cost, type="quantitative", scale=alt.Scale(type="log") if log else alt.Undefined,
              title=FIELDS.get(cost, (cost,))[0])
    marks = alt.Chart(points).transform_filter(alt.datum.wer_kind == "published").mark_point(
        shape=PUBLISHED_SHAPE, filled=False, size=260, strokeWidth=1.5, color=FRONT_COLOUR).encode(
        x=x, y=_y("wer"), tooltip=[alt.Tooltip("wer_source", type="nominal", title="accuracy")])
    out = chart.copy(deep=True)
    out.layer = [*out.layer, marks]  # the layers keep whatever data tradeoff() gave them
    return out


def wer_by_snr(frame: pd.DataFrame, order: Sequence[str], title: str = "WER vs signal-to-noise ratio") -> alt.Chart:
    """One line per configuration series over the SNR (sweep_views.wer_by_snr), noisiest left, clean at the right end."""
    return _fixed(alt.Chart(frame, title=_title(title)).mark_line(point=True).encode(
        x=alt.X("snr", type="ordinal", sort=list(order),
                axis=_category_axis("signal-to-noise ratio (clean: no noise added)")),
        y=_y("wer"),
        color=_colour(frame),
        tooltip=[*_tooltip(frame, "wer", "clip_s"), alt.Tooltip("snr", title="SNR"),
                 alt.Tooltip("noise", title="noise")],
    ))


# --- devices side by side: measured, projected and published points, never combined ----------------------------

KIND_SHAPES = {"measured": "square", "projected": "circle", "published": PUBLISHED_SHAPE}
DEVICE_TOOLTIP = {"kind": "kind", "device_name": "device", "model_name": "model", "runtime": "runtime or engine",
                  "precision": "precision", "batch_size": "batch size", "bucket": "clip length",
                  "energy_kind": "energy kind", "validation_error": "validation error (projected)",
                  "source": "source", "note": "note"}


def by_device(frame: pd.DataFrame, y: str, title: str, devices: Sequence[str],
              subtitle: str | Sequence[str] = "", y_title: str | None = None) -> alt.LayerChart:
    """Each model's figure per device (x), one mark per kind: a filled square measured here, a circle projected
    by the cost model, a hollow diamond published; the kind is in the legend and every tooltip."""
    data = frame.dropna(subset=[y])
    kinds = [k for k in KIND_SHAPES if k in set(data["kind"])]
    x = alt.X("device", type="nominal", sort=list(devices), axis=_category_axis(None, two_lines=True))
    shape = alt.Shape("kind", type="nominal", scale=alt.Scale(domain=kinds, range=[KIND_SHAPES[k] for k in kinds]),
                      legend=alt.Legend(title=None, orient="bottom", direction="horizontal", symbolFillColor=None))
    colour = alt.Color("model_name", type="nominal", legend=_legend(),
                       scale=alt.Scale(scheme=scheme_for(_n(data, "model_name"))))
    name, fmt = FIELDS.get(y, (y, ".3g"))
    tips = [alt.Tooltip(c, type="nominal", title=t) for c, t in DEVICE_TOOLTIP.items() if c in data.columns]
    tips.insert(3, alt.Tooltip(y, title=name, format=fmt))
    layers = [alt.Chart(data).transform_filter(alt.datum.kind == k).mark_point(
        filled=k != "published", size=90 if k != "published" else 130, strokeWidth=2, opacity=0.9).encode(
        x=x, xOffset=alt.XOffset("model_name", type="nominal"), y=_y(y, log=True, title=y_title), color=colour,
        shape=shape, tooltip=tips) for k in kinds]
    return _fixed(alt.layer(*layers, title=_title(title, subtitle)))


# --- the session's runs side by side ------------------------------------------------------------------

def session_chart(frame: pd.DataFrame, y: str, title: str) -> alt.Chart:
    """One horizontal bar per run of the session (compare.session_frame), oldest on top; energy bars coloured by
    the source of their figure, so an estimate is never read as a measurement."""
    energy = y.startswith("energy")
    colour = (alt.Color("energy_source", type="nominal", title="energy",
                        legend=alt.Legend(orient="bottom", direction="horizontal", labelLimit=400))
              if energy else alt.value(STAGE_COLOURS["preprocess"]))
    height = _height(SESSION_BAR_PX * max(_n(frame, "run"), 1), 1 if energy else 0)
    return alt.Chart(frame, title=title, height=height).mark_bar().encode(
        y=alt.Y("run", type="nominal", sort=None, title=None, axis=alt.Axis(labelLimit=0)),  # 0: never cut
        x=alt.X(y, type="quantitative", title=FIELDS[y][0]),
        color=colour,
        tooltip=[alt.Tooltip("run", title="run"), alt.Tooltip("clip", title="clip"),
                 alt.Tooltip(y, title=FIELDS[y][0], format=FIELDS[y][1]),
                 *([alt.Tooltip("energy_source", title="energy source")] if energy else [])],
    )


# --- class mode and export ------------------------------------------------------------------------------

def sized(chart: alt.TopLevelMixin, class_mode: bool, class_height: int | None = None) -> alt.TopLevelMixin:
    """The chart as the page shows it: in class mode, with type the back row can read (class_height: its whole
    height there, for a chart that must stay in view, such as the live power chart: CLASS_POWER_PX)."""
    if not class_mode:
        return chart
    return large(chart if class_height is None else chart.properties(height=class_height - LARGE_CHROME_PX))


def large(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """The chart with axis, legend and title text large enough for a projector (and room for it)."""
    if isinstance(chart.height, int):
        chart = chart.properties(height=chart.height + LARGE_CHROME_PX)
    return chart.configure_axis(labelFontSize=LARGE_FONT_PX, titleFontSize=LARGE_FONT_PX).configure_legend(
        labelFontSize=LARGE_FONT_PX).configure_title(fontSize=LARGE_FONT_PX + 4)


def png(chart: alt.TopLevelMixin) -> bytes:
    """The chart as a PNG, rendered here without a browser or a network (vl-convert)."""
    return vl_convert.vegalite_to_png(chart.to_json(), scale=PNG_SCALE)


def svg(chart: alt.TopLevelMixin) -> str:
    """The chart as an SVG, rendered here without a browser or a network (vl-convert)."""
    return vl_convert.vegalite_to_svg(chart.to_json())


# --- polish and export ---------------------------------------------------------------------------

def polish(chart: alt.TopLevelMixin, domain: Sequence[str] = ()) -> alt.TopLevelMixin:
    """The chart with readable tooltips that name the runtime, series colours fixed to domain, and
    discrete sizes drawn as ordinal (Vega-Lite warns about size on a nominal field)."""
    chart = chart.copy(deep=True)
    layers = getattr(chart, "layer", None) or [chart]
    # every series any layer draws (published diamonds too) has a legend entry, and none that is not drawn
    drawn = colour_domain(*[d for d in (_data(layer, chart) for layer in layers) if isinstance(d, pd.DataFrame)])
    for layer in layers:
        enc = layer.encoding
        if enc is alt.Undefined:
            continue
        if enc.tooltip is not alt.Undefined:
            enc.tooltip = _tooltips(enc.tooltip, _data(layer, chart))
        if domain and enc.color is not alt.Undefined and _field(enc.color) == "series":
            enc.color.scale = alt.Scale(domain=list(domain), scheme=scheme_for(len(domain)))
            if enc.color._get("legend") is not alt.Undefined:
                enc.color._get("legend")["values"] = drawn
        if enc.size is not alt.Undefined:
            enc.size["type"] = "ordinal" if enc.size._get("type") == "nominal" else enc.size._get("type")
            if enc.size._get("legend") not in (alt.Undefined, None):
                legend = enc.size._get("legend")
                legend["symbolFillColor"] = legend["symbolStrokeColor"] = SYMBOL_GREY
    return chart


def _data(layer: alt.TopLevelMixin, chart: alt.TopLevelMixin) -> object:
    return layer.data if isinstance(layer.data, pd.DataFrame) else chart.data


def _tooltips(tips: Sequence, data: object) -> list[alt.Tooltip]:
    columns = list(data.columns) if isinstance(data, pd.DataFrame) else []
    fields = [_field(t) for t in tips]
    config = [alt.Tooltip(c, type="nominal", title=TOOLTIP_TITLES[c]) for c in CONFIG_FIELDS
              if c in columns and c != "model" and (c in fields or c in (MODEL_NAME, "runtime"))]
    rest = []
    for tip, field in zip(tips, fields):
        if field in CONFIG_FIELDS:
            continue
        tip = alt.Tooltip(tip) if isinstance(tip, str) else tip.copy()
        if field in TOOLTIP_TITLES:
            tip.title = TOOLTIP_TITLES[field]
        rest.append(tip)
    return config + rest


def _field(channel: object) -> str | None:
    """The field a channel or tooltip encodes, whether written as a shorthand or as field=."""
    if isinstance(channel, str):
        return channel.split(":")[0]
    for name in ("field", "shorthand"):
        value = channel._get(name)
        if isinstance(value, str):
            return value.split(":")[0]
    return None


def spec_json(chart: alt.TopLevelMixin) -> bytes:
    """The chart's Vega-Lite spec with its data inlined: opens in any Vega viewer, offline too."""
    return chart.to_json().encode("utf-8")


