"""ASR cost explorer: `streamlit run streamlit_app.py`. Pages are in pages/, the app's logic in asr_app/, the library in asr_core/."""
from pathlib import Path

import streamlit as st

from asr_app import state

ROOT = Path(__file__).resolve().parent
# Pages live in pages/, not pages/: with a pages/ folder beside this file, Streamlit's older
# multipage mode serves a deep link such as /explore on a fresh server without running this file
# (no navigation, no page config) until someone opens the home page.

st.set_page_config(page_title="ASR cost explorer", page_icon=":material/graphic_eq:", layout="wide")

page = st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/transcribe.py", title="Transcribe", icon=":material/mic:"),
    st.Page("pages/explore.py", title="Explore", icon=":material/insights:"),
    st.Page("pages/recommend.py", title="Recommend", icon=":material/recommend:"),
])
state.navigation_ready()

with st.sidebar:
    hw = state.hardware()
    st.caption(f"This machine: {hw['cpu']}" + (f" + {hw['gpu']}" if hw["gpu"] else " (no CUDA GPU)"))
    run_count = st.empty()  # filled again after the page ran, so a Run just pressed is counted at once


def show_run_count() -> None:
    if state.runs():
        run_count.caption(f"{len(state.runs())} run(s) this session")


show_run_count()
page.run()
show_run_count()
