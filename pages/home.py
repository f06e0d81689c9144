"""Home: what the app does, the hardware found, and which energy meters work here."""
import streamlit as st

from asr_app import present, state

state.through_navigation(__file__)

st.title("What does speech recognition cost?")
st.markdown(
    "This app runs speech-recognition models (Whisper and wav2vec2) on a clip and measures what each "
    "stage costs: time, energy, memory and FLOPs, next to the word error rate of the transcript, and what "
    "**one hour of audio** would cost in minutes, watt-hours, grams of CO2e and euros. "
    "**Transcribe** runs models live on this machine, or captions your microphone live; **Explore** browses a "
    "precomputed sweep of many models, runtimes, batch sizes and clip lengths, and compares CPU with GPUs; "
    "**Recommend** picks a configuration for a use case from those measurements. Every figure says what it is: "
    "measured here, published by others, projected by a cost model, or an estimate."
)
c1, c2, c3 = st.columns(3)
c1.page_link("pages/transcribe.py", label="Transcribe a clip →")
c2.page_link("pages/explore.py", label="Explore the sweep →")
c3.page_link("pages/recommend.py", label="Get a recommendation →")

left, right = st.columns(2)
with left:
    st.subheader("Hardware found")
    st.table(present.hardware_table(state.hardware()), hide_index=True, hide_header=True, border="horizontal")
with right:
    st.subheader("Energy meters")
    st.table(present.meter_table(state.meter_status()), hide_index=True, border="horizontal")
    st.caption("Energy uses the best meter that works: the GPU's NVML counter, then RAPL for the CPU; "
               "without RAPL the CPU figure is an estimate from CPU time, labelled 'estimate' everywhere.")
