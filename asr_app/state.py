"""The Streamlit edge: cached models and tables, and the runs of this browser session.

The only module of the app package that imports streamlit. Models are shared by every session
(``st.cache_resource``); the precomputed tables and decoded audio are cached by value
(``st.cache_data``). What one session brings (its uploaded sweep files, its runs) lives only in
``st.session_state``, which Streamlit frees when the session ends. Every cache and every per-session
collection has a bound, named below.
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.uploaded_file_manager import UploadedFile

from asr_core import costmodel, energy, prices, published, sweep_table, system
from asr_core.audio import load_audio
from asr_core.checkpoints import pretrained_problem
from asr_core.results import Result
from asr_core.runtimes import LoadedModel, load_model

from . import (background, captions, charts, choices, compare, hardware_view, inputs, model_access, precomputed,
               projected, sweep_views)
from .configs import RunRequest
from .live import SessionGuard

MAX_MODELS = 4  # loaded models kept at once; Whisper large alone is several GB
HUB_CHECK_TTL_S = 60  # re-probe the hub a minute later: the network may come back
HUB_CHECK_ENTRIES = 64  # model ids checked against the hub (people may type any id)
MACHINE_TTL_S = 600  # hardware and meter status: re-read every ten minutes
CACHE_TTL_S = 3600  # decoded audio and read folders leave the cache an hour after their last use
MAX_DECODED_UPLOADS = 8  # uploaded audio clips kept decoded (a ten-minute clip is about 40 MB)
MAX_DECODED_FILES = 64  # clips from the server's folders kept decoded
MAX_FOLDERS = 16  # sample folders and clip caches kept listed
CLIP_LIST_TTL_S = 30  # the clip cache is listed again after this: a prefetch may be filling it
MAX_SWEEP_FOLDERS = 2  # read precomputed folders kept (one, plus the one a changed file replaces)
MAX_UPLOADS = 8  # uploaded sweep files one session keeps
MAX_UPLOADED_ROWS = 200_000  # rows of all of one session's uploaded sweep files together
MAX_RUNS = 50  # runs one session keeps in its history; the oldest go first
MAX_AGGREGATES = 64  # Explore's aggregated frames kept (a view's few charts, for a few filter settings)
MAX_PROJECTIONS = 32  # CPU vs GPU views' projection grids kept
RUNS_KEY = "runs"  # the session's last MAX_RUNS (clip label, Result), oldest first
LAST_KEY = "last_runs"  # the ones the latest Run press produced
LAST_ROUNDS_KEY = "last_rounds"  # how many runs of each configuration the latest Run asked for
SCROLLED_KEY = "scrolled_to"  # the results the page last scrolled into view (scroll_into_view)
FLOP_POLL_S = 1.0  # while a run's FLOPs are counted after it, the page looks this often whether they are ready
UPLOADS_KEY = "uploaded_sweeps"  # file name -> table, shared by Explore and Recommend
SEEN_KEY = "uploaded_sweeps_seen"  # upload id -> its refusal ("" once taken): each upload is read once
FORGET = "Forget uploaded files"
CLASS_KEY = "class"  # the class-mode switch's key and URL parameter
COMPARE_KEY = "compare_rows"  # the configurations listed to compare in one run (configs.RunRequest)
GUARD_KEY = "live_run_guard"  # the live.SessionGuard of this browser session
MAX_COMPARE_ROWS = 8  # rows one comparison lists at most
CAPTIONER_KEY = "live_captioner"  # this session's captions.Captioner
MAIN_SCRIPT = "streamlit_app.py"
GOTO_PARAM = "goto"  # a deep link's page, carried through streamlit_app.py on a fresh server
_navigation_ready = False  # set once streamlit_app.py has run st.navigation in this server process
UNEXPECTED = ("Something went wrong on this page. It has been logged for the operator: reload the page, or try "
              "other settings.")
FAIL_ENV, FAIL_PARAM = "ASR_FAIL_ON_PURPOSE", "fail"  # tests only: with the variable set to 1, ?fail=page,
# ?fail=app or ?fail=fragment raises inside the page guard, outside it, or inside a fragment's guard (the tests of
# what a visitor sees of a bug)

log = logging.getLogger(__name__)


def navigation_ready() -> None:
    """Called by streamlit_app.py after st.navigation."""
    global _navigation_ready
    _navigation_ready = True


def through_navigation(page_file: str) -> None:
    """Send a visit that skipped streamlit_app.py through it, to the same page with the same query.

    With a pages/ folder, Streamlit serves a deep link (say /explore?model=…) on a fresh server with its
    older multipage mode, running the page file alone (no page config, no navigation) until
    streamlit_app.py has run once. Such a visit goes through streamlit_app.py, which opens the page
    named in GOTO_PARAM with the link's other parameters, so a shared link works on the first visit too.
    """
    if not _navigation_ready:
        st.switch_page(MAIN_SCRIPT, query_params={**st.query_params.to_dict(), GOTO_PARAM: Path(page_file).stem})


def run_page(page: StreamlitPage) -> None:
    """page.run(), guarded: an exception the page did not expect is logged here, traceback and all, and the visitor
    sees UNEXPECTED, one sentence with no server path or source line (Streamlit's stop and rerun pass through)."""
    try:
        fail_on_purpose("page")
        page.run()
    except Exception:  # noqa: BLE001 - the last guard before the browser
        log.exception("the page %s failed", getattr(page, "url_path", "") or "home")
        st.error(UNEXPECTED)


def fragment(fn: Callable[..., None] | None = None, *, run_every: float | None = None):
    """st.fragment with run_page's guard: a part of a page that reruns on its own (Explore's tabs, live captions)
    runs outside the page's guard, so an exception there is logged here and the visitor sees UNEXPECTED."""
    def wrap(body: Callable[..., None]):
        @functools.wraps(body)
        def guarded(*args: Any, **kwargs: Any) -> None:
            try:
                fail_on_purpose("fragment")
                body(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the last guard before the browser
                log.exception("the fragment %s failed", body.__name__)
                st.error(UNEXPECTED)
        return st.fragment(guarded, run_every=run_every)
    return wrap(fn) if fn is not None else wrap


def fail_on_purpose(where: str) -> None:
    """Raise here when ASR_FAIL_ON_PURPOSE=1 and the address asks for it (?fail=page, ?fail=app, ?fail=fragment): the browser test's
    bug on purpose, its message holding a server path that must not reach the page."""
    if os.environ.get(FAIL_ENV) == "1" and st.query_params.get(FAIL_PARAM) == where:
        raise RuntimeError(f"a failure on purpose ({where}) in {Path(__file__).resolve()}")


def page_to_open() -> str:
    """The page a deep link asked for before it was sent through streamlit_app.py ('' if none); forgets it."""
    goto = st.query_params.get(GOTO_PARAM, "")
    if goto:
        del st.query_params[GOTO_PARAM]
    return goto


# --- models and machine ---------------------------------------------------------------------------

@st.cache_resource(max_entries=MAX_MODELS, show_spinner=False)
def model(model_id: str, device: str, precision: str, weights: str, runtime: str) -> LoadedModel:
    """One loaded model per (model, device, precision, weights, runtime), shared by all sessions.

    Sharing is safe: a run (runs.measure) holds the per-device lock while it uses a model. Only a model the app may
    load (model_access: the allow-list, the download cap) is loaded.
    """
    return load_model(model_access.check_loadable(model_id, weights), device, precision, weights, runtime)


@st.cache_data(ttl=HUB_CHECK_TTL_S, max_entries=HUB_CHECK_ENTRIES, show_spinner=False)
def pretrained_problem_cached(model_id: str) -> str | None:
    return pretrained_problem(model_id)


@st.cache_data(ttl=MACHINE_TTL_S, max_entries=1, show_spinner=False)
def hardware() -> dict:
    return system.hardware_summary()


@st.cache_data(ttl=MACHINE_TTL_S, max_entries=1, show_spinner=False)
def meter_status() -> list[energy.MeterInfo]:
    return energy.meter_status()


# --- audio ---------------------------------------------------------------------------------------

@st.cache_data(max_entries=MAX_DECODED_UPLOADS, ttl=CACHE_TTL_S, show_spinner=False)
def decode(data: bytes, name: str) -> np.ndarray:
    return load_audio(data, name=name)


@st.cache_data(max_entries=MAX_DECODED_FILES, ttl=CACHE_TTL_S, show_spinner=False)
def decode_file(path: str) -> np.ndarray:
    return load_audio(path, max_duration_s=None)


@st.cache_data(max_entries=MAX_FOLDERS, ttl=CACHE_TTL_S, show_spinner=False)
def folder_utterances(folder: str) -> list[inputs.Utterance]:
    return inputs.folder_utterances(folder)


@st.cache_data(ttl=CLIP_LIST_TTL_S, max_entries=MAX_FOLDERS, show_spinner=False)
def cached_clips(cache_dir: str) -> list:
    return inputs.cached_clips(cache_dir)


# --- sweep tables --------------------------------------------------------------------------------

@st.cache_data(max_entries=MAX_SWEEP_FOLDERS, ttl=CACHE_TTL_S, show_spinner=False)
def _load_folder(folder: str, stamp: tuple) -> tuple[pd.DataFrame, list[str]]:
    return sweep_table.load_folder(folder)


@st.cache_data(max_entries=MAX_SWEEP_FOLDERS, ttl=CACHE_TTL_S, show_spinner=False)
def _published(root: str, stamp: tuple) -> tuple[pd.DataFrame, list[str]]:
    return precomputed.published_table(root)


def published_table(root: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """precomputed.published_table, read again only when the file changes (not on every rerun)."""
    path = precomputed.precomputed_dir(root) / precomputed.PUBLISHED_FILE
    return _published(str(root), precomputed.files_stamp([path] if path.is_file() else []))


def remember_uploads(files: list[UploadedFile] | None) -> list[str]:
    """Take newly uploaded sweep files into this session; one message per file refused.

    Each upload is read once (by its id), never cached across sessions; files stay until forgotten.
    """
    tables = st.session_state.setdefault(UPLOADS_KEY, {})
    seen = st.session_state.get(SEEN_KEY, {})
    # Only the uploader's current files stay in seen, so it never outgrows the uploader's own list.
    seen = {f.file_id: seen[f.file_id] if f.file_id in seen else _take_upload(tables, f) for f in files or []}
    st.session_state[SEEN_KEY] = seen
    return [refusal for refusal in seen.values() if refusal]


def _take_upload(tables: dict[str, pd.DataFrame], f: UploadedFile) -> str:
    """Read one uploaded file into tables; "" when taken, else the one sentence saying why not."""
    if f.name not in tables and len(tables) >= MAX_UPLOADS:
        return (f"{f.name}: not added, because this session already holds {MAX_UPLOADS} uploaded sweep files; "
                f"press “{FORGET}” first.")
    try:
        table = sweep_table.read(f.getvalue(), f.name)
    except sweep_table.SweepFileError as exc:
        return str(exc)
    rows = len(table) + sum(len(t) for name, t in tables.items() if name != f.name)
    if rows > MAX_UPLOADED_ROWS:
        return (f"{f.name}: not added, because this session's uploads would then hold {rows:,} rows, over the "
                f"{MAX_UPLOADED_ROWS:,}-row limit; press “{FORGET}” first.")
    tables[f.name] = table
    return ""


def forget_uploads() -> None:
    """Drop this session's uploaded tables; files still in the uploader are not read again."""
    st.session_state[UPLOADS_KEY] = {}


def uploaded_names() -> list[str]:
    return sorted(st.session_state.get(UPLOADS_KEY, {}))


def sweep_data(root: str | os.PathLike) -> tuple[pd.DataFrame, list[str], Path]:
    """Every precomputed sweep file plus this session's uploads; read errors; the folder read."""
    folder = precomputed.precomputed_dir(root)
    files = sweep_table.sweep_files(folder)
    df, errors = _load_folder(str(folder), precomputed.files_stamp(files))
    uploads = list(st.session_state.get(UPLOADS_KEY, {}).values())
    return sweep_table.combine([df, *uploads]), errors, folder


# --- the session's runs --------------------------------------------------------------------------

def runs() -> list[tuple[str, Result]]:
    """The session's last MAX_RUNS runs, oldest first."""
    return st.session_state.setdefault(RUNS_KEY, [])


def last_runs() -> list[tuple[str, Result]]:
    return st.session_state.get(LAST_KEY, [])


def add_runs(clip: str, results: list[Result], rounds: int = 1) -> None:
    """Append to the history, dropping the oldest runs beyond MAX_RUNS (rounds: runs asked of each configuration)."""
    pairs = [(clip, r) for r in results]
    history = runs()
    history.extend(pairs)
    del history[:-MAX_RUNS]
    st.session_state[LAST_KEY] = pairs
    st.session_state[LAST_ROUNDS_KEY] = rounds


def last_rounds() -> int:
    return st.session_state.get(LAST_ROUNDS_KEY, 1)


def clear_runs() -> None:
    st.session_state[RUNS_KEY] = []
    st.session_state[LAST_KEY] = []


def session_guard() -> SessionGuard:
    """This browser session's guard: one live run at a time, and what a stopped one finished handed over."""
    return st.session_state.setdefault(GUARD_KEY, SessionGuard())


def save_kept(guard: SessionGuard) -> None:
    """Into the session's history, what the guard's runs kept since the last save (a stopped run cannot save)."""
    for clip, results, rounds in guard.take():
        add_runs(clip, results, rounds)


# --- behind the page: the default model warmed up, FLOPs counted after a run ------------------------------

@st.cache_resource(max_entries=1, show_spinner=False)
def warm_up(root: str):
    """The Transcribe page's default model (choices.default_request) loading in the background: started once per
    server by the first visit to any page, never waited for (a Run of it waits at the model cache's own lock)."""
    return background.warm_up(model, lambda: choices.default_request(root))


@st.cache_resource(max_entries=1, show_spinner=False)
def flop_filler() -> background.FlopFiller:
    """The server's one FlopFiller: runs' FLOPs counted after their results are shown, one at a time."""
    return background.FlopFiller()


def fill_in_flops(filler: background.FlopFiller) -> None:
    """The session's runs whose FLOPs have been counted since, replaced by their counted twins."""
    for key in (RUNS_KEY, LAST_KEY):
        pairs = st.session_state.get(key, [])
        st.session_state[key] = [(clip, filler.filled(r)) for clip, r in pairs]


def rerun_when_counted(filler: background.FlopFiller, results: list[Result]) -> None:
    """While some of results' FLOPs are being counted, look every FLOP_POLL_S whether they are ready, and draw the
    page again once they are (a small fragment: the page itself is not redrawn meanwhile)."""
    if not filler.any_pending(results):
        return

    @fragment(run_every=FLOP_POLL_S)  # guarded like every fragment; st.rerun is a BaseException and passes through
    def poll() -> None:
        if not filler.any_pending(results):
            st.rerun()
    poll()


def scroll_into_view(key: str, token: str) -> None:
    """Scroll the page so the container with this key is at the top of the window, once per token (new results), not
    on every redraw: a projector shows the results without anyone scrolling."""
    if st.session_state.get(SCROLLED_KEY) == token:
        return
    st.session_state[SCROLLED_KEY] = token
    # a same-origin iframe's script (st.html runs none); below Streamlit's own header bar, not under it
    st.iframe(f"<script>const e = window.parent.document.querySelector('.st-key-{key}');"
              f"if (e) {{e.style.scrollMarginTop = '3.5rem'; e.scrollIntoView({{block: 'start'}});}}</script>",
              height="content")


# --- configurations compared in one run -------------------------------------------------------------

def compare_rows() -> list[RunRequest]:
    return st.session_state.setdefault(COMPARE_KEY, [])


def set_compare_rows(rows: list[RunRequest]) -> None:
    """The list replaced by these rows (a ready comparison), repeats left out."""
    st.session_state[COMPARE_KEY] = list(dict.fromkeys(rows))[:MAX_COMPARE_ROWS]


def add_compare_rows(rows: list[RunRequest]) -> str:
    """Rows appended to the list; one sentence when some were not ("" when all were added or already there)."""
    listed = compare_rows()
    new = [r for r in dict.fromkeys(rows) if r not in listed]
    room = MAX_COMPARE_ROWS - len(listed)
    listed.extend(new[:max(room, 0)])
    return (f"The list holds {MAX_COMPARE_ROWS} configurations at most: remove one before adding another."
            if len(new) > room else "")


def remove_compare_row(index: int) -> None:
    rows = compare_rows()
    if 0 <= index < len(rows):
        del rows[index]


def clear_compare_rows() -> None:
    st.session_state[COMPARE_KEY] = []


# --- class mode and chart export ---------------------------------------------------------------------

def class_mode() -> bool:
    """Whether the class-mode switch (in the sidebar, and in the URL as ?class=true) is on."""
    return bool(st.session_state.get(CLASS_KEY, False))


def chart_downloads(chart, name: str, key: str) -> None:
    """PNG and SVG download buttons for an Altair chart, converted offline when clicked (vl-convert)."""
    with st.container(horizontal=True, gap="small"):
        for fmt, mime, convert in (("PNG", "image/png", charts.png), ("SVG", "image/svg+xml", charts.svg)):
            st.download_button(fmt, lambda convert=convert: convert(chart), f"{name}.{fmt.lower()}", mime,
                               key=f"{key}-{fmt}", on_click="ignore", type="tertiary", icon=":material/download:",
                               help=f"This chart as a {fmt} image, drawn here (nothing is sent anywhere)")


@st.cache_data(max_entries=MAX_SWEEP_FOLDERS, ttl=CACHE_TTL_S, show_spinner=False)
def _medians(folder: str, stamp: tuple) -> pd.DataFrame:
    return compare.sweep_medians(sweep_table.load_folder(folder)[0])


def precomputed_medians(root: str | os.PathLike) -> pd.DataFrame:
    """compare.sweep_medians of the precomputed folder (not this session's uploads), read again when a file changes."""
    folder = precomputed.precomputed_dir(root)
    return _medians(str(folder), precomputed.files_stamp(sweep_table.sweep_files(folder)))


def default_unless_set(key: str, default: object, empty: object = None) -> object:
    """A widget's default, or empty once its key holds a value (a callback set it, or the visitor did): Streamlit warns
    in the server log when a widget gets a default and a value set through session state."""
    return empty if key in st.session_state else default


def session_owner() -> str:
    """How a run of this browser session is named to another session waiting for the same device."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return f"a run in another browser session ({ctx.session_id[:6]})" if ctx else "another run"


# --- live captions: the microphone over WebRTC ---------------------------------------------------------

def captioner() -> captions.Captioner:
    """This browser session's live captions (its prepared model, the session listening, the last record)."""
    return st.session_state.setdefault(CAPTIONER_KEY, captions.Captioner())


def microphone(key: str, on_frame, on_ended=None) -> bool:
    """The browser's microphone streamed to on_frame, every frame on the transport's thread (streamlit-webrtc,
    audio only, send-only, no STUN/TURN server: it works offline on localhost); whether it is on now."""
    from streamlit_webrtc import WebRtcMode, create_audio_sink_track, webrtc_streamer
    sink = create_audio_sink_track(on_frame, key=f"{key}-sink", on_ended=on_ended)
    ctx = webrtc_streamer(key=key, mode=WebRtcMode.SENDONLY, sink_audio_track=sink,
                          rtc_configuration={"iceServers": captions.ICE_SERVERS},
                          media_stream_constraints={"audio": True, "video": False},
                          translations={"start": "Start listening", "stop": "Stop listening"})
    return bool(ctx.state.playing)


# --- Explore's aggregates, prices and projections: computed once per distinct input -------------------------

@st.cache_data(max_entries=MAX_AGGREGATES, ttl=CACHE_TTL_S, show_spinner=False)
def aggregated(rows: pd.DataFrame, keys: tuple[str, ...] = tuple(sweep_table.CELL_KEYS),
               series_exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """sweep_views.aggregate, cached by the rows' content (Streamlit hashes the frame): a redraw after a filter change
    that comes back to rows seen before, and every chart of a view drawn from the same rows, aggregate once."""
    return sweep_views.aggregate(rows, list(keys), series_exclude)


@st.cache_data(max_entries=1, ttl=CACHE_TTL_S, show_spinner=False)
def price_table() -> pd.DataFrame:
    """precomputed/prices.csv, checked (asr_core.prices.load); PriceTableError if it cannot be used."""
    return prices.load()


@st.cache_data(max_entries=1, ttl=CACHE_TTL_S, show_spinner=False)
def published_costs() -> pd.DataFrame:
    """precomputed/published_costs.csv, checked (asr_core.published.load_costs)."""
    return published.load_costs()


@st.cache_resource(max_entries=1, show_spinner=False)
def cost_model() -> tuple[dict, costmodel.Fit]:
    """The hardware table and the cost model's fitted factors: projected.shipped_cost_model's, the files read once
    per server for the H100 line and for Explore's and Recommend's projections alike."""
    fit, table = projected.shipped_cost_model()
    return table, fit


@st.cache_data(max_entries=MAX_PROJECTIONS, ttl=CACHE_TTL_S, show_spinner=False)
def projections(models: tuple[str, ...], devices: tuple[str, ...], batch_size: int, bucket: str, runtime: str,
                precision: str) -> tuple[pd.DataFrame, list[str]]:
    """hardware_view.projected for these models and devices, with the shipped fit and hardware table."""
    table, fit = cost_model()
    return hardware_view.projected(models, devices, batch_size, bucket, runtime, precision, fit, table)
