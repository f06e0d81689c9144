"""Explore: browse a precomputed sweep (plus uploaded sweep files) with filters and charts."""
from pathlib import Path

import streamlit as st

from asr_app import charts, hour_view, present, share, state, sweep_filters, sweep_views
from asr_core import sweep_table
from pages import hardware_panel, hour_picker

state.through_navigation(__file__)

ROOT = Path(__file__).resolve().parents[1]
SWEEP_COMMAND = ("asr-profile sweep --clips ../shared/speech/librispeech-dev-clean-3752-4944 \\\n"
                 "    --models openai/whisper-tiny --weights synthetic --devices cpu \\\n"
                 "    --out precomputed/my-sweep.parquet")
NO_DATA = ("No sweep results yet: neither the precomputed folder (`precomputed/` in the repository, or "
           "`$ASR_PRECOMPUTED_DIR`) nor an uploaded file holds any rows. Run a sweep, then reload this page:")
NO_WER = ("No WER to show: the selected runs used synthetic weights (random values: timing only) "
          "or had no reference. Select pretrained runs to compare accuracy.")
SELECT_PX = 160
# cost column -> label in the trade-off selector
COSTS = {"latency_per_utt_s": "latency per utterance", "rtf": "RTF",
         "energy_per_audio_s_j": "energy per audio second", "hour_energy_wh": "Wh per hour of audio",
         "hour_electricity_cost": "electricity per hour of audio"}
TABS = ["Leaderboard", "Per audio hour", "Accuracy", "Speed & energy", "Trade-offs", "Batch size & compute", "Stages",
        "CPU vs GPU"]
LINK = "Filters and selections are kept in the address bar: copy it to share this view."
EXPORT_HELP = "The chart as a Vega-Lite spec with its data, for any Vega viewer."
SHOW_ALL_HELP = (f"Charts draw {sweep_filters.MAX_SERIES} configurations at most, so each stays readable on a "
                 "projector; tick to draw every configuration the filters keep.")
BIND = "query-params"
# leaderboard header -> number format in the table
FORMATS = {"WER (%)": "%.1f", "latency / utt (s)": "%.3g", "RTF": "%.3g", "J per audio s": "%.3g",
           "peak memory (MiB)": "%.0f", "batch": "%d", "runs": "%d", "min per audio h": "%.3g", "Wh per audio h": "%.3g",
           "g CO2e per audio h": "%.3g"}


def chart(c, rows, domain=None, energy: bool = False) -> None:
    """The chart, its colours fixed to the series of rows (or domain), its exports and the caption of its rows."""
    c = charts.polish(c, sweep_views.colour_domain(rows) if domain is None else domain)
    st.altair_chart(c)
    title = c.title if isinstance(c.title, str) else c.title.text
    with st.container(horizontal=True, gap="small"):
        st.download_button("Chart spec (JSON)", charts.spec_json(c), f"{title}.vl.json", "application/json",
                           key=f"export-{title}", on_click="ignore", type="tertiary", icon="⬇️", help=EXPORT_HELP)
        state.chart_downloads(c, title, f"image-{title}")
    st.caption(present.plain(sweep_views.caption(rows, energy=energy)))


def limited(frame, show_all: bool, row=None):
    """At most a few series unless all are asked for; the sentence saying what was left out (in row, beside the
    tab's pickers, or under the tab)."""
    kept, note = sweep_filters.top_series(frame, show_all)
    if note:
        (row or st).caption(note)
    return kept


def picked(ok, label: str, options: list, key: str, column: str, show_all: bool, exclude: tuple = ()):
    """A tab's picker, and the aggregated rows it selects: at most a few configurations, the note beside it."""
    with st.container(horizontal=True, vertical_alignment="bottom") as row:
        value = st.selectbox(label, options, key=key, bind=BIND, width=SELECT_PX)
    return value, limited(state.aggregated(sweep_views.subset(ok, **{column: value}), series_exclude=exclude), show_all,
                          row)


def assumptions(costs) -> None:
    """What the per-hour figures assume, each price with its citation and a link to its source."""
    st.caption(present.plain(hour_view.assumptions(costs)))
    with st.container(horizontal=True, gap="small"):
        for what, url in hour_view.links(costs):
            st.link_button(f"Source of the {what}", url, type="tertiary")


def wer_note(missing: int) -> None:
    if missing:
        st.caption(f"{missing} configuration(s) have no WER (synthetic weights or no reference) and are not shown.")


st.html(present.PROJECTOR_CSS)
st.title("Explore the sweep")
body = st.container()  # the charts first; what the data is, and adding files, below them
bottom = st.container()

with bottom.expander("Add sweep files (parquet or CSV written by `asr-profile sweep`)"):
    files = st.file_uploader("Sweep files", type=["parquet", "csv"], accept_multiple_files=True, key="sweep_uploads",
                             max_upload_size=sweep_views.UPLOAD_LIMIT_MB)
    for error in state.remember_uploads(files):
        st.error(present.plain(error))
    if state.uploaded_names():
        st.caption("Uploaded this session: " + present.plain(", ".join(state.uploaded_names())))
        st.button(state.FORGET, on_click=state.forget_uploads)

with body:
    data, read_errors, _ = state.sweep_data(ROOT)
    published_table, published_errors = state.published_table(ROOT)
    for error in [*read_errors, *published_errors]:
        st.error(present.plain(error))
if data.empty:
    st.info(NO_DATA)
    st.code(SWEEP_COMMAND, language="bash")
    st.stop()
data = sweep_filters.with_audio(data)

with st.sidebar:
    st.header("Filters")
    offered = sweep_filters.options(data)
    start = sweep_filters.defaults(offered, sweep_filters.pretrained_models(data))
    selections = {}
    for col, label in sweep_filters.labels().items():
        if col in offered:
            selections[col] = st.multiselect(label, offered[col], default=start[col], key=share.FILTERS[col],
                                             bind=BIND, format_func=sweep_views.value_label(col))
            if col == "device" and sweep_filters.device_note(offered[col]):
                st.caption(sweep_filters.device_note(offered[col]))
    st.caption(LINK)
    st.header("Cost per audio hour")
    costs = hour_picker.show()

bottom.caption(present.plain(sweep_views.data_summary(data)) + " The shipped data uses LibriSpeech read speech and TED "
               "talk samples from ../shared, because TED-LIUM could not be downloaded on the measuring machines.")
rows = sweep_views.apply_filters(data, selections)
ok, failed = sweep_table.split_status(rows)


@state.fragment
def views(ok, costs, models, pretrained) -> None:
    """The tabs and their charts: a change inside them redraws only this part, and only the open tab is drawn."""
    cells = state.aggregated(ok)  # cached; the per-hour columns only where a tab shows them (the leaderboard)
    buckets = sweep_views.bucket_order(ok)  # also the x order of every chart by length: its cells have the same buckets
    batch_sizes = sorted(ok["batch_size"].unique().tolist())
    with st.container(horizontal=True, vertical_alignment="center"):
        show_all = st.toggle("Show all configurations", key=share.SHOW_ALL, bind=BIND, help=SHOW_ALL_HELP,
                             width="content")
        st.caption(present.plain(sweep_filters.models_caption(models, pretrained)))
    board, hour, quality, speed, tradeoffs, batch, stages, hardware = st.tabs(TABS, key=share.TAB, bind=BIND)
    if board.open:
        with board:
            agg = hour_view.with_hours(cells, costs)
            st.dataframe(sweep_views.leaderboard(agg, hour_view.leaderboard_columns(costs)), hide_index=True,
                         column_config={label: st.column_config.NumberColumn(format=fmt) for label, fmt in FORMATS.items()})
            st.caption("One row per configuration and clip length: click a column's header to sort by it. "
                       + present.plain(sweep_views.caption(agg)))
            assumptions(costs)
    if hour.open:
        with hour:
            metrics = hour_view.metrics(costs)
            with st.container(horizontal=True, vertical_alignment="bottom") as row:
                metric = st.segmented_control("Per hour of audio", list(metrics), default="hour_energy_wh",
                                              format_func=lambda c: hour_view.METRICS[c][0], key=share.HOUR_METRIC,
                                              bind=BIND, required=True)
                size = st.selectbox("Batch size", batch_sizes, key=share.HOUR_SIZE, bind=BIND, width=SELECT_PX)
            per_length = hour_view.with_hours(state.aggregated(sweep_views.subset(ok, batch_size=size), series_exclude=(
                "batch_size",)), costs)
            shown = limited(per_length, show_all, row)
            chart(charts.by_length(shown, metric, metrics[metric], buckets, log=True, y_title=metrics[metric],
                                   subtitle=["log scale", hour_view.kinds_subtitle(shown)],
                                   extra_tips=(hour_view.SOURCES_COLUMN,)),
                  shown, energy=True)
            assumptions(costs)
    if quality.open:
        with quality:
            with_wer, no_wer = sweep_views.with_wer(state.aggregated(ok, keys=tuple(sweep_table.WER_KEYS)))
            with_wer = limited(with_wer, show_all)
            reported = sweep_views.published_points(published_table, ok["model"].unique())
            if with_wer.empty and reported.empty:
                st.info(NO_WER)
            else:
                chart(charts.wer_with_published(with_wer, reported, "WER by clip length, and published WER", buckets,
                                                "pooled over devices and batch sizes"),
                      with_wer, sweep_views.colour_domain(with_wer, reported))
                st.caption(present.plain(sweep_views.published_caption(reported)))
                wer_note(no_wer)
            if sweep_views.snr_count(ok) > 1:
                by_snr = sweep_views.wer_by_snr(ok)
                chart(charts.wer_by_snr(by_snr, sweep_views.snr_order(by_snr)), by_snr)
                st.caption("Noise mixed into the clips at each signal-to-noise ratio (power over the clip) before "
                           "transcribing; see the README's Noise section.")
    if speed.open:
        with speed:
            _, per_length = picked(ok, "Show batch size", batch_sizes, share.SIZE, "batch_size", show_all,
                                   ("batch_size",))
            left, right = st.columns(2)
            for column, (y, title, sub, energy) in zip(
                    [left, right, left, right],
                    [("latency_per_utt_s", "Latency per utterance", "log scale", False),
                     ("rtf", "Real-time factor", "log scale; below 1: faster than real time", False),
                     ("energy_per_utt_j", "Energy per utterance", "log scale", True),
                     ("energy_per_audio_s_j", "Energy per audio second", "log scale", True)]):
                with column:
                    chart(charts.by_length(per_length, y, title, buckets, log=True, subtitle=sub), per_length,
                          energy=energy)
    if tradeoffs.open:
        with tradeoffs:
            with st.container(horizontal=True, vertical_alignment="bottom") as row:
                cost = st.selectbox("Cost", list(COSTS), format_func=COSTS.get, key=share.COST, bind=BIND,
                                    width=2 * SELECT_PX)
                bucket = st.selectbox("Clip length", buckets, key=share.TRADEOFF_CLIPS, bind=BIND, width=SELECT_PX)
            per_config = hour_view.with_hours(state.aggregated(sweep_views.subset(ok, bucket=bucket)), costs)
            points = limited(sweep_views.tradeoff(per_config, cost), show_all, row)
            if points.empty:
                st.info(NO_WER)
            else:
                x_title = hour_view.axis_title(cost, costs) if cost.startswith("hour_") else None
                chart(charts.tradeoff(points, cost, f"WER vs {COSTS[cost]} ({bucket} clips)", x_title=x_title),
                      points, energy=cost.startswith(("energy", "hour")))
                st.caption("Large points are on the Pareto front: no other configuration has both a lower WER and "
                           "a lower cost. The dashed line joins them.")
    if batch.open:
        with batch:
            bucket, per_batch = picked(ok, "Clip length", buckets, share.BATCH_CLIPS, "bucket", show_all,
                                       ("batch_size",))
            left, right = st.columns(2)
            with left:
                chart(charts.by_batch(per_batch, "throughput_audio_s_per_s", f"Throughput vs batch size ({bucket})"),
                      per_batch)
            with right:
                chart(charts.by_batch(per_batch, "peak_memory_mib", f"Peak memory vs batch size ({bucket})"), per_batch)
            st.caption("Peak memory: GPU memory reserved for CUDA runs, process resident memory (RSS) for CPU runs.")
            chart(charts.latency_vs_flops(per_batch), per_batch)
    if stages.open:
        with stages:
            bucket, per_stage = picked(ok, "Clip length", buckets, share.STAGE_CLIPS, "bucket", show_all)
            chart(charts.stage_chart(sweep_table.stage_seconds(per_stage, label="series"),
                                     title=f"Where the time goes ({bucket} clips)"), per_stage)
    if hardware.open:
        with hardware:
            hardware_panel.show(cells, costs, batch_sizes, buckets)


if ok.empty:
    st.warning("No successful runs match the filters: widen them in the sidebar.")
else:
    with body:
        views(ok, costs, selections.get("model", []), sweep_filters.pretrained_models(data))

if not failed.empty:
    body.subheader(f"Failed runs ({len(failed)})")
    body.dataframe(failed, hide_index=True)
bottom.download_button("Download the filtered rows (CSV)", rows.to_csv(index=False).encode("utf-8"), "asr-sweep.csv",
                   "text/csv", icon="⬇️", on_click="ignore")
