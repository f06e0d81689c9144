"""The Streamlit edge: cached models and tables, and the runs of this browser session.

The only module of the app package that imports streamlit. Models are shared by every session
(``st.cache_resource``); tables and decoded audio are cached by value (``st.cache_data``); a
session's runs live in ``st.session_state``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from asr_core import energy, sweep_table, system
from asr_core.audio import load_audio
from asr_core.checkpoints import pretrained_problem
from asr_core.models import LoadedModel
from asr_core.results import Result
from asr_core.runtimes import load_model

from . import explore, inputs

MAX_MODELS = 4  # loaded models kept at once; Whisper large alone is several GB
HUB_CHECK_TTL_S = 60  # re-probe the hub a minute later: the network may come back
RUNS_KEY = "runs"  # every (clip label, Result) of the session, oldest first
LAST_KEY = "last_runs"  # the ones the latest Run press produced
UPLOADS_KEY = "uploaded_sweeps"  # file name -> table, shared by Explore and Recommend
MAIN_SCRIPT = "streamlit_app.py"
_navigation_ready = False  # set once streamlit_app.py has run st.navigation in this server process


def navigation_ready() -> None:
    """Called by streamlit_app.py after st.navigation."""
    global _navigation_ready
    _navigation_ready = True


def through_navigation() -> None:
    """Send a visit that skipped streamlit_app.py through it.

    With a pages/ folder, Streamlit serves a deep link (say /explore) on a fresh server with its
    older multipage mode, running the page file alone (no page config, no navigation) until
    streamlit_app.py has run once. Such a visit goes to the app's home page instead.
    """
    if not _navigation_ready:
        st.switch_page(MAIN_SCRIPT)


# --- models and machine ---------------------------------------------------------------------------

@st.cache_resource(max_entries=MAX_MODELS, show_spinner=False)
def model(model_id: str, device: str, precision: str, weights: str, runtime: str) -> LoadedModel:
    """One loaded model per (model, device, precision, weights, runtime), shared by all sessions.

    Sharing is safe: measure.transcribe holds the per-device lock while it uses a model.
    """
    return load_model(model_id, device, precision, weights, runtime)


@st.cache_data(ttl=HUB_CHECK_TTL_S, show_spinner=False)
def pretrained_problem_cached(model_id: str) -> str | None:
    return pretrained_problem(model_id)


@st.cache_data(ttl=600, show_spinner=False)
def hardware() -> dict:
    return system.hardware_summary()


@st.cache_data(ttl=600, show_spinner=False)
def meter_status() -> list[energy.MeterInfo]:
    return energy.meter_status()


# --- audio ---------------------------------------------------------------------------------------

@st.cache_data(max_entries=32, show_spinner=False)
def decode(data: bytes, name: str) -> np.ndarray:
    return load_audio(data, name=name)


@st.cache_data(max_entries=64, show_spinner=False)
def decode_file(path: str) -> np.ndarray:
    return load_audio(path, max_duration_s=None)


@st.cache_data(show_spinner=False)
def folder_utterances(folder: str) -> list[inputs.Utterance]:
    return inputs.folder_utterances(folder)


@st.cache_data(ttl=30, show_spinner=False)
def cached_clips(cache_dir: str) -> list:
    return inputs.cached_clips(cache_dir)


# --- sweep tables --------------------------------------------------------------------------------

@st.cache_data(show_spinner=False)
def _load_folder(folder: str, stamp: tuple) -> tuple[pd.DataFrame, list[str]]:
    return sweep_table.load_folder(folder)


@st.cache_data(max_entries=16, show_spinner=False)
def _read_upload(name: str, data: bytes) -> pd.DataFrame:
    return sweep_table.read(data, name)


def remember_uploads(files: list) -> list[str]:
    """Read uploaded sweep files into the session; one error message per file that failed."""
    errors = []
    stored = st.session_state.setdefault(UPLOADS_KEY, {})
    for f in files or []:
        try:
            stored[f.name] = _read_upload(f.name, f.getvalue())
        except sweep_table.SweepFileError as exc:
            errors.append(str(exc))
    return errors


def forget_uploads() -> None:
    st.session_state[UPLOADS_KEY] = {}


def uploaded_names() -> list[str]:
    return sorted(st.session_state.get(UPLOADS_KEY, {}))


def sweep_data(root: str | os.PathLike) -> tuple[pd.DataFrame, list[str], Path]:
    """Every precomputed sweep file plus this session's uploads; read errors; the folder read."""
    folder = explore.precomputed_dir(root)
    files = sweep_table.sweep_files(folder)
    df, errors = _load_folder(str(folder), explore.files_stamp(files))
    uploads = list(st.session_state.get(UPLOADS_KEY, {}).values())
    return sweep_table.combine([df, *uploads]), errors, folder


# --- the session's runs --------------------------------------------------------------------------

def runs() -> list[tuple[str, Result]]:
    return st.session_state.setdefault(RUNS_KEY, [])


def last_runs() -> list[tuple[str, Result]]:
    return st.session_state.get(LAST_KEY, [])


def add_runs(clip: str, results: list[Result]) -> None:
    pairs = [(clip, r) for r in results]
    runs().extend(pairs)
    st.session_state[LAST_KEY] = pairs


def clear_runs() -> None:
    st.session_state[RUNS_KEY] = []
    st.session_state[LAST_KEY] = []


def session_owner() -> str:
    """How a run of this browser session is named to another session waiting for the same device."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return f"a run in another browser session ({ctx.session_id[:6]})" if ctx else "another run"
