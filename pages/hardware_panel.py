"""Not a page of its own: Explore's "CPU vs GPU" tab. Pick devices and see each model's projected minutes and
watt-hours per hour of audio (asr_core.costmodel) beside the sweep's measured CPU rows and published figures, as
marks of three kinds, with the validation error the cost model saw. The logic is asr_app.hardware_view."""
import streamlit as st

from asr_app import charts, hardware_view, present, share, state, sweep_views
from asr_core.costmodel import ProjectionError
from asr_core.hardware_table import HardwareTableError
from asr_core.hourly import CostSettings

BIND = "query-params"
SELECT_PX = 160
INTRO = ("**No GPU measurements yet.** GPU figures here are **projected** by the cost model (a roofline of each "
         "stage on the device's cited peaks, with fitted factors: circles) or **published** by others (hollow "
         "diamonds); the squares are this sweep's **measured** CPU rows. They are never averaged or ranked together.")
PUBLISHED_NOTE = ("Published points keep their own conditions (batch, precision, engine, data set: see each "
                  "tooltip); a published time per run or per token is listed in the README, not drawn. Hover a point "
                  "for its kind, source and the cost model's validation error.")


def show(cells, costs: CostSettings, batch_sizes: list[int], buckets: list[str]) -> None:
    """The tab's pickers, its two charts, the stage chart and the table; one sentence if the cost model's files
    cannot be read."""
    try:
        table, fit = state.cost_model()
    except (HardwareTableError, ProjectionError) as exc:
        st.error(present.plain(str(exc)))
        return
    st.markdown(INTRO)
    offered = hardware_view.device_options(table)
    buckets = buckets or ["30s"]
    with st.container(horizontal=True):
        devices = st.multiselect("Devices", list(offered), default=[d for d in hardware_view.DEFAULT_DEVICES
                                 if d in offered], key=share.HW_DEVICES, bind=BIND, width=3 * SELECT_PX,
                                 help="; ".join(f"{k}: {v}" for k, v in offered.items()))
        size = st.selectbox("Batch size", sorted({1, *batch_sizes}), key=share.HW_SIZE, bind=BIND, width=SELECT_PX)
        bucket = st.selectbox("Clip length", buckets, index=buckets.index("30s") if "30s" in buckets else 0,
                              key=share.HW_CLIPS, bind=BIND, width=SELECT_PX)
        runtime = st.selectbox("Runtime", hardware_view.runtimes(), key=share.HW_RUNTIME, bind=BIND, width=SELECT_PX)
        precision = st.selectbox("Precision", hardware_view.PRECISIONS, key=share.HW_PRECISION, bind=BIND,
                                 width=SELECT_PX, help="auto: fp16 on a GPU, fp32 on a CPU")
    models = tuple(sorted(cells["model"].astype(str).unique()))
    rows, refused = state.projections(models, tuple(devices), int(size), bucket, runtime, precision)
    v = hardware_view.view(rows, refused, cells, state.published_costs(), devices, int(size), bucket, runtime, costs,
                           fit, table)
    if v.frame.empty:
        st.info("Nothing to draw: pick a device, or widen the model filter in the sidebar.")
        return
    where = f"batch {size}, {bucket} clips, {runtime}, log scale"
    for y, title in (("minutes_per_audio_h", "Minutes of processing per hour of audio"),
                     ("wh_per_audio_h", "Watt-hours per hour of audio")):
        st.altair_chart(charts.by_device(v.frame, y, title, v.order, [where, *v.validation]))
    st.caption(PUBLISHED_NOTE)
    on = st.selectbox("Where the time goes, on", [d for d in v.order if d in set(v.frame["device"])],
                      width=3 * SELECT_PX)
    stages = hardware_view.stage_minutes(v.rows, v.measured, on)
    if not stages.empty:
        st.altair_chart(charts.stage_chart(stages, f"Where the time goes on {on} ({where.removesuffix(', log scale')})",
                                           "minutes per hour of audio"))
    for note in v.refused:
        st.caption(f"Not projected: {present.plain(note)}")
    shown = hardware_view.export(v.frame)
    st.dataframe(shown, hide_index=True, column_config={
        "minutes_per_audio_h": st.column_config.NumberColumn("min per audio h", format="%.3g"),
        "wh_per_audio_h": st.column_config.NumberColumn("Wh per audio h", format="%.3g")})
    st.download_button("Download this table (CSV; every figure's kind in its own column)",
                       shown.to_csv(index=False).encode("utf-8"), "asr-cpu-vs-gpu.csv", "text/csv", icon="⬇️",
                       on_click="ignore")
    if len(v.measured):
        st.caption(present.plain(sweep_views.caption(v.measured, energy=True)))
