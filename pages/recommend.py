"""Recommend: pick a configuration for a use case from the loaded sweep, with the reason and caveats."""
import math
from pathlib import Path

import streamlit as st

from asr_app import charts, present, projected_picks, share, state, sweep_filters, sweep_views, use_cases
from asr_core.costmodel import ProjectionError
from asr_core.hardware_table import HardwareTableError
from asr_core.recommend import OBJECTIVE_COLUMNS, USE_CASES, accuracy_sources, recommend
from pages import hour_picker

state.through_navigation(__file__)

ROOT = Path(__file__).resolve().parents[1]
BIND = "query-params"
LINK = "The use case and constraints are kept in the address bar: copy it to share this view."
# UseCase field -> the label of its limit
LIMIT_LABELS = {"max_latency_per_utt_s": "Max latency per utterance (s)", "max_rtf": "Max RTF",
                "max_peak_memory_bytes": "Max memory (MiB)", "max_energy_per_audio_s_j": "Max energy per audio second (J)"}
OBJECTIVES = {"wer": "lowest WER", "latency": "lowest latency", "energy": "least energy"}
NO_DATA = ("Nothing to recommend from: neither the precomputed folder (`precomputed/` in the repository, or "
           "`$ASR_PRECOMPUTED_DIR`) nor a file uploaded on the Explore page holds any rows.")
JARGON = ("**faster than real time**: how many hours of audio one hour of processing gets through. **Wh per hour of "
          "audio**: the energy to transcribe one hour; the money is that energy at the electricity price chosen "
          "below. **WER**: word error rate, the share of words wrong, from the one source named (published on a "
          "benchmark, or measured here). **projected**: computed by the cost model, not measured; **estimated**: "
          "CPU time × an assumed power, not a meter.")

st.html(present.PROJECTOR_CSS)
st.title("Recommend a configuration")
answer = st.container(key=present.HEADLINE_KEY)  # the one plain sentence opens the page, filled once widgets are read
notes = st.container()
data, read_errors, _ = state.sweep_data(ROOT)
published_table, published_errors = state.published_table(ROOT)
for error in [*read_errors, *published_errors]:
    st.error(present.plain(error))
if data.empty:
    st.info(NO_DATA)
    st.stop()
try:
    hardware, fit = state.cost_model()
except (HardwareTableError, ProjectionError) as exc:  # no projections: the measured devices still answer
    st.error(present.plain(str(exc)))
    hardware, fit = {}, None

options = sweep_views.filter_options(data)
buckets, batch_sizes = options.get("bucket", []), options.get("batch_size", [])
devices = projected_picks.device_choices(options.get("device", []), hardware)


def start_from_use_case() -> None:
    """A use case chosen: its constraints replace the ones on screen."""
    st.session_state.update(share.use_case_values(USE_CASES[st.session_state[share.USE_CASE]], options))


c1, c2, c3 = st.columns([2, 3, 2])
name = c1.selectbox("Use case", list(USE_CASES), key=share.USE_CASE, bind=BIND, on_change=start_from_use_case)
preset = USE_CASES[name]
start = share.use_case_values(preset, options)  # also each widget's default, which the address leaves out
sources = accuracy_sources(published_table, data["model"].unique())  # the default first
accuracy_label = c2.selectbox("Accuracy from", list(sources), key=use_cases.ACCURACY_PARAM, bind=BIND,
                              help="Every candidate is ranked on this one WER source; WER of the other kind is shown "
                                   "beside it, never ranked with it.")
accuracy = sources[accuracy_label]
device = c3.selectbox("Device", list(devices), format_func=devices.get, key=share.DEVICE, bind=BIND,
                      index=state.default_unless_set(share.DEVICE, list(devices).index(start[share.DEVICE])),
                      help="A GPU nobody measured here is answered from the cost model's projections, labelled "
                           "projected.")
if sweep_filters.device_note(options.get("device", [])):
    c3.caption("No GPU measurements yet: a GPU is answered from projections.")
c1.caption(preset.description + (" " + use_cases.memory_note(preset) if use_cases.memory_note(preset) else ""))

with st.expander("Constraints (start from the use case; untick a limit to drop it)"):
    c1, c2, c3, c4 = st.columns(4)
    # defaults only until start_from_use_case sets the values (a widget given both makes Streamlit warn in the log)
    chosen_buckets = c1.multiselect("Clip lengths (empty: any)", buckets, key=share.BUCKETS, bind=BIND,
                                    default=state.default_unless_set(share.BUCKETS, start[share.BUCKETS]))
    chosen_batches = c2.multiselect("Batch sizes (empty: any)", batch_sizes, key=share.BATCHES, bind=BIND,
                                    default=state.default_unless_set(share.BATCHES, start[share.BATCHES]))
    objective = c3.selectbox("Objective", list(OBJECTIVE_COLUMNS), format_func=OBJECTIVES.get, key=share.OBJECTIVE,
                             bind=BIND, index=state.default_unless_set(
                                 share.OBJECTIVE, list(OBJECTIVE_COLUMNS).index(start[share.OBJECTIVE])))
    mix = c4.toggle("Rank projected GPUs with measured CPU runs", key=share.MIX_KINDS, bind=BIND,
                    help=projected_picks.MIX_HELP) and fit is not None
    pretrained_only = not use_cases.uses_published(accuracy) and st.checkbox(
        "Only pretrained weights (synthetic runs have no WER)", key=share.PRETRAINED, bind=BIND,
        value=bool((data["weights"] == "pretrained").any()))
    limits = {}
    for column, (field, param) in zip(st.columns(4), share.LIMITS.items()):
        on = column.checkbox(LIMIT_LABELS[field], key=share.limit_switch(param), bind=BIND,
                             value=state.default_unless_set(share.limit_switch(param), start[share.limit_switch(param)],
                                                            False))
        value = column.number_input(LIMIT_LABELS[field], min_value=0.0, key=param, bind=BIND,
                                    value=state.default_unless_set(param, start[param]),
                                    disabled=not on, placeholder="no limit", label_visibility="collapsed")
        limits[field] = share.chosen_limit(on, value)
    st.caption(LINK)
with st.expander("Prices and grid (the money and CO2e per hour of audio)"):
    costs = hour_picker.show()

use_case = use_cases.custom_use_case(
    preset, device=None if device == share.ANY else device, buckets=chosen_buckets, batch_sizes=chosen_batches,
    objective=objective, max_latency_per_utt_s=limits["max_latency_per_utt_s"], max_rtf=limits["max_rtf"],
    max_memory_mib=limits["max_peak_memory_bytes"], max_energy_per_audio_s_j=limits["max_energy_per_audio_s_j"])
# clean audio only: a recommendation compares configurations, not the noise mixed into some sweep rows
rows = sweep_views.subset(data, weights="pretrained" if pretrained_only else None, snr_db=math.inf)
if fit is not None:
    rows, mixed = projected_picks.candidate_rows(rows, use_case.device, use_case, mix, fit, hardware)
else:
    mixed = False
rec = recommend(rows, use_case, accuracy=accuracy, table=published_table, costs=costs, mix_kinds=mixed)
models = data["model"].unique()
with answer:
    if rec.pick is None:
        st.warning(present.plain(use_cases.readable(rec.reason, models)))
    else:
        st.markdown(present.keep_units(present.plain(rec.headline)), help=JARGON)
with notes:
    extra = [projected_picks.validation_note(rec.pick, fit, hardware) if fit else "",
             projected_picks.published_beside(rec.pick, state.published_costs(), costs)]
    for note in [*extra, *rec.caveats, rec.unranked_note]:
        if note:
            st.caption(f"⚠ {present.plain(use_cases.readable(note, models))}")
    if rec.pick is not None:
        with st.expander("Details: how this was picked"):
            st.markdown(f"**Pick:** {present.plain(use_cases.readable(rec.reason, models))}")

if not rec.candidates.empty:
    cost = use_cases.objective_cost(use_case)
    points = use_cases.recommend_points(rec, rows, cost)
    if points.empty:
        st.info("The candidates have no WER (synthetic weights), so there is no accuracy trade-off to draw.")
    else:
        c = charts.polish(charts.tradeoff_with_published(points, cost, f"Candidates: WER vs {charts.FIELDS[cost][0]}"),
                          sweep_views.colour_domain(points))
        st.altair_chart(c)
        st.download_button("Chart spec (JSON)", charts.spec_json(c), "candidates.vl.json", "application/json",
                           on_click="ignore", type="tertiary", icon="⬇️",
                           help="The chart as a Vega-Lite spec with its data; its toolbar downloads a PNG.")
        measured = points[~points["energy_source"].astype(str).str.contains("projected")]
        st.caption("Large points are on the Pareto front; the ringed point is the pick; a hollow diamond marks "
                   "a WER that is published, not measured here (its tooltip names the source). "
                   + present.plain(" ".join(t for t in (projected_picks.caption(points), sweep_views.caption(
                       measured, energy=cost.startswith("energy"))) if t)))
    st.subheader(f"Candidates ({len(rec.candidates)}), best first")
    st.dataframe(use_cases.candidates_table(rec.candidates), hide_index=True)
