"""Recommend: pick a configuration for a use case from the loaded sweep, with the reason and caveats."""
from pathlib import Path

import streamlit as st

from asr_app import charts, explore, present, recommendation, state
from asr_core.recommend import OBJECTIVE_COLUMNS, USE_CASES, recommend

state.through_navigation()

ROOT = Path(__file__).resolve().parents[1]
ANY = "any"
OBJECTIVES = {"wer": "lowest WER", "latency": "lowest latency", "energy": "least energy"}
NO_DATA = ("Nothing to recommend from: neither the precomputed folder (`precomputed/` in the repository, or "
           "`$ASR_PRECOMPUTED_DIR`) nor a file uploaded on the Explore page holds any rows.")

st.title("Recommend a configuration")
data, read_errors, _ = state.sweep_data(ROOT)
for error in read_errors:
    st.error(present.plain(error))
if data.empty:
    st.info(NO_DATA)
    st.stop()

name = st.selectbox("Use case", list(USE_CASES), key="use_case")
preset = USE_CASES[name]
st.caption(preset.description)
options = explore.filter_options(data)
buckets, batch_sizes = options.get("bucket", []), options.get("batch_size", [])
devices = [ANY, *options.get("device", [])]

with st.expander("Constraints (start from the use case; leave a limit empty for none)", expanded=True):
    k = f"{name}-"  # widgets re-fill from the preset when the use case changes
    c1, c2, c3, c4 = st.columns(4)
    device = c1.selectbox("Device", devices, key=k + "device",
                          index=devices.index(preset.device) if preset.device in devices else 0)
    chosen_buckets = c2.multiselect("Clip lengths (empty: any)", buckets, key=k + "buckets",
                                    default=[b for b in preset.buckets if b in buckets])
    chosen_batches = c3.multiselect("Batch sizes (empty: any)", batch_sizes, key=k + "batches",
                                    default=[b for b in preset.batch_sizes if b in batch_sizes])
    objective = c4.selectbox("Objective", list(OBJECTIVE_COLUMNS), format_func=OBJECTIVES.get, key=k + "objective",
                             index=list(OBJECTIVE_COLUMNS).index(preset.objective))
    pretrained_only = st.checkbox("Only pretrained weights (synthetic runs have no WER)", key=k + "pretrained",
                                  value=bool((data["weights"] == "pretrained").any()))
    c1, c2, c3, c4 = st.columns(4)
    max_latency = c1.number_input("Max latency per utterance (s)", min_value=0.0, value=preset.max_latency_per_utt_s,
                                  key=k + "latency")
    max_rtf = c2.number_input("Max RTF", min_value=0.0, value=preset.max_rtf, key=k + "rtf")
    max_memory = c3.number_input("Max memory (MiB)", min_value=0.0, key=k + "memory",
                                 value=recommendation.to_mib(preset.max_peak_memory_bytes))
    max_energy = c4.number_input("Max energy per audio second (J)", min_value=0.0, key=k + "energy",
                                 value=preset.max_energy_per_audio_s_j)

use_case = recommendation.custom_use_case(
    preset, device=None if device == ANY else device, buckets=chosen_buckets, batch_sizes=chosen_batches,
    objective=objective, max_latency_per_utt_s=max_latency, max_rtf=max_rtf, max_memory_mib=max_memory,
    max_energy_per_audio_s_j=max_energy)
rows = explore.subset(data, weights="pretrained" if pretrained_only else None)
rec = recommend(rows, use_case)
if rec.pick is None:
    st.warning(present.plain(rec.reason))
else:
    st.success(f"**Pick:** {present.plain(rec.reason)}")
for caveat in rec.caveats:
    st.caption(f"⚠ {present.plain(caveat)}")

if not rec.candidates.empty:
    cost = recommendation.objective_cost(use_case)
    points = recommendation.recommend_points(rec, rows, cost)
    if points.empty:
        st.info("The candidates have no WER (synthetic weights), so there is no accuracy trade-off to draw.")
    else:
        st.altair_chart(charts.tradeoff(points, cost, f"Candidates: WER vs {charts.FIELDS[cost][0]}"))
        st.caption("Large points are on the Pareto front; the ringed point is the pick. "
                   + present.plain(explore.caption(points, energy=cost.startswith("energy"))))
    st.subheader(f"Candidates ({len(rec.candidates)}), best first")
    st.dataframe(recommendation.candidates_table(rec.candidates), hide_index=True)
