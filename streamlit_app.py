"""ASR cost explorer: `streamlit run streamlit_app.py`. Pages are in pages/, the app's logic in asr_app/, the library in asr_core/."""
from pathlib import Path

import streamlit as st

from asr_app import present, state

ROOT = Path(__file__).resolve().parent
# Pages live in pages/, not pages/: with a pages/ folder beside this file, Streamlit's older
# multipage mode serves a deep link such as /explore on a fresh server without running this file
# (no navigation, no page config) until someone opens the home page.

# An emoji, not a :material/...: icon: the browser fetches a material page icon from an outside font server.
st.set_page_config(page_title="ASR cost explorer", page_icon="🎙️", layout="wide")
state.warm_up(str(ROOT))  # once per server: Transcribe's default model loads in the background, never waited for here

PAGES = {name: st.Page(f"pages/{name}.py", title=title, icon=icon, default=name == "home") for name, title, icon in (
    ("home", "Home", ":material/home:"), ("transcribe", "Transcribe", ":material/mic:"),
    ("explore", "Explore", ":material/insights:"), ("recommend", "Recommend", ":material/recommend:"))}
page = st.navigation(list(PAGES.values()))
state.navigation_ready()
if (goto := state.page_to_open()) in PAGES and PAGES[goto] is not page:  # a deep link on a fresh server
    st.switch_page(PAGES[goto], query_params=st.query_params.to_dict())

with st.sidebar:
    st.toggle("Class mode", key=state.CLASS_KEY, bind="query-params",
              help="For a class: the Transcribe page hides expert settings and offers ready comparisons; large "
                   "type. Kept in the address, so a link opens the app in class mode.")
    hw = state.hardware()
    st.caption(f"This machine: {hw['cpu']}" + (f" + {hw['gpu']}" if hw["gpu"] else " (no CUDA GPU)"))
    run_count = st.empty()  # filled again after the page ran, so a Run just pressed is counted at once
if state.class_mode():
    st.html(present.CLASS_MODE_CSS)


def show_run_count() -> None:
    if state.runs():
        run_count.caption(f"{len(state.runs())} run(s) this session")


show_run_count()
state.fail_on_purpose("app")  # tests only (ASR_FAIL_ON_PURPOSE): outside the guard, config.toml must hide it
state.run_page(page)  # an unexpected exception: logged, and one sentence for the visitor
show_run_count()
