"""Explore: browse a precomputed sweep (plus uploaded sweep files) with filters and charts."""
from pathlib import Path

import streamlit as st

from asr_app import charts, present, share, state, sweep_views
from asr_core import sweep_table

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
         "energy_per_audio_s_j": "energy per audio second"}
TABS = ["Leaderboard", "Accuracy", "Speed & energy", "Trade-offs", "Batch size & compute", "Stages"]
LINK = "Filters and selections are kept in the address bar: copy it to share this view."
EXPORT_HELP = "The chart as a Vega-Lite spec with its data, for any Vega viewer."
BIND = "query-params"
# leaderboard header -> number format in the table
FORMATS = {"WER (%)": "%.1f", "latency / utt (s)": "%.3g", "RTF": "%.3g", "J per audio s": "%.3g",
           "peak memory (MiB)": "%.0f", "batch": "%d", "runs": "%d"}


def chart(c, rows, domain=(), energy: bool = False) -> None:
    c = charts.polish(c, domain)
    st.altair_chart(c)
    title = c.title if isinstance(c.title, str) else "chart"
    with st.container(horizontal=True, gap="small"):
        st.download_button("Chart spec (JSON)", charts.spec_json(c), f"{title}.vl.json", "application/json",
                           key=f"export-{title}", on_click="ignore", type="tertiary", icon="⬇️", help=EXPORT_HELP)
        state.chart_downloads(c, title, f"image-{title}")
    st.caption(present.plain(sweep_views.caption(rows, energy=energy)))


def wer_note(missing: int) -> None:
    if missing:
        st.caption(f"{missing} configuration(s) have no WER (synthetic weights or no reference) and are not shown.")


st.title("Explore the sweep")

with st.expander("Add sweep files (parquet or CSV written by `asr-profile sweep`)"):
    files = st.file_uploader("Sweep files", type=["parquet", "csv"], accept_multiple_files=True, key="sweep_uploads",
                             max_upload_size=sweep_views.UPLOAD_LIMIT_MB)
    for error in state.remember_uploads(files):
        st.error(present.plain(error))
    if state.uploaded_names():
        st.caption("Uploaded this session: " + present.plain(", ".join(state.uploaded_names())))
        st.button(state.FORGET, on_click=state.forget_uploads)

data, read_errors, _ = state.sweep_data(ROOT)
published_table, published_errors = state.published_table(ROOT)
for error in [*read_errors, *published_errors]:
    st.error(present.plain(error))
if data.empty:
    st.info(NO_DATA)
    st.code(SWEEP_COMMAND, language="bash")
    st.stop()

st.caption(present.plain(sweep_views.data_summary(data)) + " The shipped data uses LibriSpeech read speech and TED "
           "talk samples from ../shared, because TED-LIUM could not be downloaded on the measuring machines.")

with st.sidebar:
    st.header("Filters")
    selections = {col: st.multiselect(sweep_views.FILTERS[col], values, default=values, key=share.FILTERS[col],
                                      bind=BIND, format_func=sweep_views.value_label(col))
                  for col, values in sweep_views.filter_options(data).items()}
    st.caption(LINK)
rows = sweep_views.apply_filters(data, selections)
ok, failed = sweep_table.split_status(rows)
if ok.empty:
    st.warning("No successful runs match the filters: widen them in the sidebar.")
else:
    agg = sweep_views.aggregate(ok)
    order = sweep_views.bucket_order(agg)
    with_wer, no_wer = sweep_views.with_wer(sweep_views.aggregate(ok, keys=sweep_table.WER_KEYS))
    buckets = sweep_views.bucket_order(ok)
    batch_sizes = sorted(ok["batch_size"].unique().tolist())
    board, quality, speed, tradeoffs, batch, stages = st.tabs(TABS, key=share.TAB, bind=BIND)
    with board:
        st.dataframe(sweep_views.leaderboard(agg), hide_index=True, column_config={
            label: st.column_config.NumberColumn(format=fmt) for label, fmt in FORMATS.items()})
        st.caption("One row per configuration and clip length: click a column's header to sort by it. "
                   + present.plain(sweep_views.caption(agg)))
    with quality:
        reported = sweep_views.published_points(published_table, ok["model"].unique())
        if with_wer.empty and reported.empty:
            st.info(NO_WER)
        else:
            chart(charts.wer_with_published(with_wer, reported, "WER by clip length, and published WER",
                                            order), with_wer, sweep_views.colour_domain(with_wer, reported))
            st.caption("WER is pooled over devices and batch sizes, which do not change what a model computes.")
            st.caption(present.plain(sweep_views.published_caption(reported)))
            wer_note(no_wer)
        if sweep_views.snr_count(ok) > 1:
            by_snr = sweep_views.wer_by_snr(ok)
            chart(charts.wer_by_snr(by_snr, sweep_views.snr_order(by_snr)), by_snr, sweep_views.colour_domain(by_snr))
            st.caption("Noise mixed into the clips at each signal-to-noise ratio (power over the clip) before "
                       "transcribing; see the README's Noise section.")
    with speed:
        size = st.selectbox("Show batch size", batch_sizes, key=share.SIZE, bind=BIND, width=SELECT_PX)
        per_length = sweep_views.aggregate(sweep_views.subset(ok, batch_size=size), series_exclude=("batch_size",))
        domain = sweep_views.colour_domain(per_length)
        left, right = st.columns(2)
        with left:
            chart(charts.by_length(per_length, "latency_per_utt_s", "Latency per utterance (log scale)", order,
                                   log=True), per_length, domain)
            chart(charts.by_length(per_length, "energy_per_utt_j", "Energy per utterance", order, log=True),
                  per_length, domain, True)
        with right:
            chart(charts.by_length(per_length, "rtf", "Real-time factor (below 1: faster than real time)", order,
                                   log=True), per_length, domain)
            chart(charts.by_length(per_length, "energy_per_audio_s_j", "Energy per audio second", order, log=True),
                  per_length, domain, True)
    with tradeoffs:
        with st.container(horizontal=True):
            cost = st.selectbox("Cost", list(COSTS), format_func=COSTS.get, key=share.COST, bind=BIND,
                                width=2 * SELECT_PX)
            bucket = st.selectbox("Clip length", buckets, key=share.TRADEOFF_CLIPS, bind=BIND, width=SELECT_PX)
        per_config = sweep_views.aggregate(sweep_views.subset(ok, bucket=bucket))
        points = sweep_views.tradeoff(per_config, cost)
        if points.empty:
            st.info(NO_WER)
        else:
            chart(charts.tradeoff(points, cost, f"WER vs {COSTS[cost]} ({bucket} clips)"), points,
                  sweep_views.colour_domain(per_config), energy=cost.startswith("energy"))
            st.caption("Large points are on the Pareto front: no other configuration has both a lower WER and "
                       "a lower cost. The dashed line joins them.")
    with batch:
        bucket = st.selectbox("Clip length", buckets, key=share.BATCH_CLIPS, bind=BIND, width=SELECT_PX)
        per_batch = sweep_views.aggregate(sweep_views.subset(ok, bucket=bucket), series_exclude=("batch_size",))
        domain = sweep_views.colour_domain(per_batch)
        left, right = st.columns(2)
        with left:
            chart(charts.by_batch(per_batch, "throughput_audio_s_per_s", f"Throughput vs batch size ({bucket})"),
                  per_batch, domain)
        with right:
            chart(charts.by_batch(per_batch, "peak_memory_mib", f"Peak memory vs batch size ({bucket})"), per_batch,
                  domain)
        st.caption("Peak memory: GPU memory reserved for CUDA runs, process resident memory (RSS) for CPU runs.")
        chart(charts.latency_vs_flops(per_batch), per_batch, domain)
    with stages:
        bucket = st.selectbox("Clip length", buckets, key=share.STAGE_CLIPS, bind=BIND, width=SELECT_PX)
        per_stage = sweep_views.aggregate(sweep_views.subset(ok, bucket=bucket))
        chart(charts.stage_chart(sweep_table.stage_seconds(per_stage, label="series"), title=f"Where the time goes ({bucket} clips)"),
              per_stage)

if not failed.empty:
    st.subheader(f"Failed runs ({len(failed)})")
    st.dataframe(failed, hide_index=True)
st.download_button("Download the filtered rows (CSV)", rows.to_csv(index=False).encode("utf-8"), "asr-sweep.csv",
                   "text/csv", icon="⬇️", on_click="ignore")
