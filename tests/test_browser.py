"""End to end: `streamlit run` in a subprocess, every page opened in headless Chromium.

Screenshots go to artifacts/screenshots/ (gitignored); with ASR_UPDATE_SCREENSHOTS=1 they are also
written to docs/screenshots/<page>.png, but only from real sweep data in precomputed/ (never from
the fake table these tests fall back to).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

from asr_app.present import HEADLINE_KEY
from helpers import ROOT, SPEECH, TINY_EN
from fakes import fake_sweep

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
UPDATE_ENV = "ASR_UPDATE_SCREENSHOTS"
PROJECTOR_SHOTS = ("explore", "recommend")  # their README pictures: the projector tests' (explore-*.png, recommend.png)
STARTUP_S = 90
RENDER_S = 90
RUN_S = 240
VIEWPORT = {"width": 1400, "height": 1000}
LAPTOP = {"width": 1280, "height": 720}  # a classroom projector: what the audience sees without scrolling
LONG_BATCH = "8"  # the clip repeated 8 times: a synthetic run that lasts a few seconds on a small CPU
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
STATUS = '[data-testid="stStatusWidget"]'
CHART = '[data-testid="stVegaLiteChart"]'
RUNNING = '[data-testid="stExpander"] [data-testid="stExpanderIconSpinner"]'

PAGES = {"home": ("", "What does speech recognition cost?"), "transcribe": ("transcribe", "Transcribe"),
         "explore": ("explore", "Explore the sweep"), "recommend": ("recommend", "Recommend a configuration")}
FULL_HEIGHT_JS = """() => Math.max(document.body.scrollHeight,
    ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"]')]
        .map(e => e.scrollHeight))"""
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
SERVER_LOGS: dict[str, Path] = {}  # a served app's address -> its server log


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _real_sweep() -> bool:
    return any((ROOT / "precomputed").glob("*.parquet"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free port; a fake sweep stands in when precomputed/ holds no real one."""
    yield from _serve(tmp_path_factory, [sys.executable, "-m", "streamlit", "run", "streamlit_app.py"])


def _serve(tmp_path_factory, command: list[str]):
    """command (a `streamlit run` with its options to come) serving the app on a free port, with an empty clip cache
    and FLOP cache of its own; the server's log is the generator's .log once it is done."""
    env = {**os.environ, "ASR_CLIP_CACHE": str(tmp_path_factory.mktemp("no-clip-cache")),
           "ASR_FLOP_CACHE": str(tmp_path_factory.mktemp("flop-cache") / "flops.json"),
           "ASR_FAIL_ON_PURPOSE": "1"}  # ?fail=page|app raises on purpose (test_a_bug_shows_a_visitor_...)
    if not _real_sweep():
        fake = tmp_path_factory.mktemp("precomputed")
        fake_sweep().to_parquet(fake / "fake-sweep.parquet")
        env["ASR_PRECOMPUTED_DIR"] = str(fake)
    port = _free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    log = open(log_path, "w+")
    proc = subprocess.Popen([*command, "--server.headless", "true", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        SERVER_LOGS[url] = log_path
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_healthy(url: str, proc: subprocess.Popen, log) -> None:
    deadline = time.time() + STARTUP_S
    while time.time() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"streamlit exited early:\n{log.read()[-3000:]}")
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not answer within {STARTUP_S} s")


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    yield pg
    context.close()


def _settle(pg, timeout_s: float = RENDER_S) -> None:
    """Wait until the script has stopped running and the page has been quiet for a moment."""
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        running = pg.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet_since = None if running else (quiet_since or time.time())
        if quiet_since and time.time() - quiet_since > 1.5:
            return
        pg.wait_for_timeout(250)
    raise AssertionError(f"the page was still running after {timeout_s} s")


def _screenshot(pg, name: str, docs: bool = True) -> None:
    """The whole page (_full_page); into docs/ too unless another test takes that page's picture for the README."""
    path = _full_page(pg, name, VIEWPORT)
    if docs:
        _to_docs(path)


def _full_page(pg, name: str, size: dict) -> Path:
    """The whole page at size's width: Streamlit scrolls inside its main container, so grow the viewport to fit it,
    then back to size."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = pg.evaluate(FULL_HEIGHT_JS)
    pg.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height))})
    pg.wait_for_timeout(800)  # let charts re-lay out at the new size
    pg.screenshot(path=str(path), full_page=True)
    pg.set_viewport_size(size)
    return path


def _viewport_screenshot(pg, name: str) -> None:
    """The viewport only, as it is now (a live run must not wait for the page to be measured)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path))
    _to_docs(path)


def _to_docs(path: Path, needs_sweep: bool = True) -> None:
    """A screenshot copied into docs/ for the README with ASR_UPDATE_SCREENSHOTS=1 (and, where it shows sweep data,
    only with the real sweep)."""
    if os.environ.get(UPDATE_ENV) == "1" and (_real_sweep() or not needs_sweep):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)


def _no_errors(pg) -> None:
    errors = pg.locator(ERRORS)
    assert errors.count() == 0, errors.all_inner_texts()


def _open(pg, url: str, name: str) -> None:
    path, heading = PAGES[name]
    pg.goto(f"{url}/{path}")
    pg.get_by_role("heading", name=heading).first.wait_for(timeout=RENDER_S * 1000)
    _settle(pg)


def test_a_deep_link_on_a_fresh_server_gets_the_apps_navigation(server, page):
    """Runs first on a fresh server: /explore?… goes through streamlit_app.py (its navigation, page
    config) and lands on Explore with its query, rather than in Streamlit's older pages/-folder mode."""
    page.goto(f"{server}/explore?tab=Stages")
    page.get_by_role("heading", name=PAGES["explore"][1]).first.wait_for(timeout=RENDER_S * 1000)
    _settle(page)
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Home", exact=True).count() == 1
    assert nav.get_by_text("streamlit app").count() == 0
    assert "/explore" in page.url and "tab=Stages" in page.url


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_without_errors(server, page, name):
    _open(page, server, name)
    if name == "explore":
        page.get_by_role("tab", name="Speed & energy").click()  # the first tab is the leaderboard table
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=RENDER_S * 1000)
        assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 2
    _no_errors(page)
    _screenshot(page, name, docs=name not in PROJECTOR_SHOTS)


RESULTS = ".st-key-results"  # the results' container (pages/transcribe.py RESULTS_KEY)
HOUR_SENTENCE = "One hour of audio like this:"


def _default_run(pg, url: str, batch: str = "1") -> None:
    """Transcribe's defaults on a LibriSpeech sample (the real tiny.en when ../shared has it, else synthetic weights),
    at this batch size, run until its results show."""
    if not SPEECH.is_dir():
        pytest.skip("../shared/speech is not present")
    _open(pg, url, "transcribe")
    if not TINY_EN.is_dir():
        pg.get_by_text("synthetic", exact=True).click()
        _settle(pg)
    if batch != "1":
        pg.locator('[data-testid="stButtonGroup"]').get_by_text(batch, exact=True).click()
        _settle(pg)
    _run_button(pg).click()
    pg.get_by_role("heading", name="Results").wait_for(timeout=RUN_S * 1000)
    _settle(pg, RUN_S)


def test_transcribe_run_shows_a_result(server, laptop):
    """The card opens with the hour sentence, shows the model's own text with its word errors, the figures, and the H100
    line, labelled projected."""
    pg = laptop
    _default_run(pg, server)
    _no_errors(pg)
    results = pg.locator(RESULTS)
    assert pg.locator('[data-testid="stMetric"]').count() >= 8
    if TINY_EN.is_dir():
        assert pg.locator(".word-diff").count() == 1
    sentence = results.get_by_text(HOUR_SENTENCE).first
    assert " on this CPU · " in sentence.inner_text() and "Wh" in sentence.inner_text()
    first_metric = results.locator('[data-testid="stMetric"]').first
    assert sentence.bounding_box()["y"] < first_metric.bounding_box()["y"]  # the card opens with it
    projected = results.get_by_text("On an H100 (projected", exact=False)
    assert projected.count() == 1 and "per clip" in projected.inner_text()
    results.get_by_text("How it was projected").click()
    pg.get_by_text("not measured", exact=False).first.wait_for(timeout=RENDER_S * 1000)
    pg.keyboard.press("Escape")
    with pg.expect_download(timeout=RENDER_S * 1000) as png:  # the page's PNG, named like its SVG …
        pg.get_by_role("button", name="PNG", exact=True).first.click()
    assert png.value.suggested_filename == "power-during-the-run.png"
    assert pg.evaluate("""() => [...document.querySelectorAll('[aria-label="Download as PNG"]')]
        .every(b => getComputedStyle(b).display === 'none')""")  # … not Streamlit's '<time>_chart.png'
    results.evaluate("e => { e.style.scrollMarginTop = '3.5rem'; e.scrollIntoView({block: 'start'}); }")
    pg.wait_for_timeout(800)
    _viewport_screenshot(pg, "transcribe-run")  # the card as a class sees it at 1280x720


def test_four_result_cards_side_by_side_cut_no_figure_short(server, laptop):
    """Four configurations compared in one run at 1280x720: every figure and label whole, one busy warning at most."""
    pg = laptop
    if not SPEECH.is_dir():
        pytest.skip("../shared/speech is not present")
    _open(pg, server, "transcribe")
    pg.get_by_text("synthetic", exact=True).click()
    _settle(pg)
    for batch in ("1", "4", "8", "16"):
        pg.locator('[data-testid="stButtonGroup"]').get_by_text(batch, exact=True).click()
        _settle(pg)
        pg.get_by_role("button", name="Add to the comparison").click()
        _settle(pg)
    _run_button(pg).click()
    pg.get_by_role("heading", name="Results").wait_for(timeout=RUN_S * 4000)
    _settle(pg, RUN_S)
    _no_errors(pg)
    assert pg.locator(RESULTS).get_by_text(HOUR_SENTENCE).count() == 4
    assert _truncated(pg) == []
    assert pg.get_by_text("Other programs kept", exact=False).count() <= 1


def test_flops_are_counted_once_for_two_runs_of_the_same_shape(server, laptop):
    """The first run shows its result, then its FLOPs fill in (counted after it); the second run of the same shape reads
    them from the FLOP cache at once. Batch 4: a shape no other test here runs."""
    pg = laptop
    _default_run(pg, server, batch="4")
    flops = pg.locator(RESULTS).locator('[data-testid="stMetric"]').filter(has_text="FLOPs per clip")
    pg.get_by_text("counted after the run", exact=False).wait_for(timeout=RUN_S * 1000)  # filled in
    first = flops.locator('[data-testid="stMetricValue"]').inner_text()
    _run_button(pg).click()
    pg.get_by_text("from the FLOP cache", exact=False).wait_for(timeout=RUN_S * 1000)
    _settle(pg, RUN_S)
    _no_errors(pg)
    assert flops.locator('[data-testid="stMetricValue"]').inner_text() == first
    assert pg.get_by_text("counted after the run", exact=False).count() == 0


# --- a live run as the audience sees it (1280×720) -----------------------------------------------------

@pytest.fixture
def laptop(browser):
    """A 1280×720 page that records every URL it requests."""
    context = browser.new_context(viewport=LAPTOP)
    pg = context.new_page()
    pg.requested = []
    pg.on("request", lambda request: pg.requested.append(request.url))
    yield pg
    context.close()


def _synthetic_long_run(pg, url: str) -> None:
    """The Transcribe page with synthetic weights and a batch that makes the run last a few seconds."""
    if not SPEECH.is_dir():
        pytest.skip("../shared/speech is not present")
    _open(pg, url, "transcribe")
    pg.get_by_text("synthetic", exact=True).click()
    _settle(pg)
    pg.locator('[data-testid="stButtonGroup"]').get_by_text(LONG_BATCH, exact=True).click()
    _settle(pg)


def _run_button(pg):
    return pg.get_by_role("button", name="Run", exact=True)


def _stop_button(pg):
    """The page's Stop (not the one in Streamlit's own toolbar)."""
    return pg.locator('[data-testid="stMain"]').get_by_role("button", name="Stop", exact=True)


def _in_viewport(pg, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= LAPTOP["height"]


def test_the_power_chart_is_in_view_while_a_run_goes(server, laptop):
    pg = laptop
    _synthetic_long_run(pg, server)
    _run_button(pg).click()
    _stop_button(pg).wait_for(timeout=RUN_S * 1000)
    chart = pg.locator(CHART).first
    chart.wait_for(timeout=RUN_S * 1000)
    assert _stop_button(pg).count() == 1, "the run ended before the chart could be checked"
    assert _in_viewport(pg, chart), chart.bounding_box()
    pg.get_by_text("measuring batch 1 of 1", exact=False).first.wait_for(timeout=RUN_S * 1000)
    pg.wait_for_timeout(1500)  # the chart redraws with the warm-up shaded
    _viewport_screenshot(pg, "transcribe-live")  # what the audience sees: no scrolling
    pg.get_by_role("heading", name="Results").wait_for(timeout=RUN_S * 1000)
    _settle(pg, RUN_S)
    _no_errors(pg)
    assert pg.locator('[data-testid="stSidebar"]').get_by_text("1 run(s) this session").count() == 1
    pg.screenshot(path=str(ARTIFACTS / "transcribe-live-done.png"))


def test_stop_ends_a_run_and_the_next_run_does_not_wait(server, laptop):
    pg = laptop
    _synthetic_long_run(pg, server)
    _run_button(pg).click()
    pg.get_by_text("measuring batch", exact=False).first.wait_for(timeout=RUN_S * 1000)
    _stop_button(pg).click()
    pg.get_by_text("Stopped", exact=False).first.wait_for(timeout=RUN_S * 1000)
    _settle(pg)
    assert _stop_button(pg).count() == 0
    _run_button(pg).click()
    pg.get_by_text("measuring batch", exact=False).first.wait_for(timeout=RUN_S * 1000)
    assert pg.get_by_text("Waiting for", exact=False).count() == 0  # the stopped run let go of the device
    pg.get_by_role("heading", name="Results").wait_for(timeout=RUN_S * 1000)
    _settle(pg, RUN_S)
    _no_errors(pg)
    assert pg.locator('[data-testid="stMetric"]').count() >= 8  # the second run finished


def _run_until_results(pg, server, click: str = "click") -> None:
    """A synthetic run, started by a click (or a double-click) on Run, waited for until its results show."""
    _synthetic_long_run(pg, server)
    getattr(_run_button(pg), click)()
    pg.get_by_role("heading", name="Results").wait_for(timeout=RUN_S * 1000)
    _settle(pg, RUN_S)


def test_a_double_click_on_run_leaves_one_finished_result_set(server, laptop):
    pg = laptop
    _run_until_results(pg, server, "dblclick")
    _no_errors(pg)
    assert pg.get_by_role("heading", name="Results").count() == 1
    assert pg.get_by_text("Latency per clip").count() == 1  # one model, one result column
    assert pg.locator(RUNNING).count() == 0  # no spinner left behind
    assert pg.get_by_text("Finished", exact=True).count() == 1


def test_no_request_leaves_the_machine_on_the_transcribe_page(server, laptop):
    pg = laptop
    _run_until_results(pg, server)
    outside = sorted({u for u in pg.requested if urlparse(u).scheme in ("http", "https", "ws", "wss")
                      and urlparse(u).hostname not in LOCAL_HOSTS})
    assert outside == []


# --- class mode and dark mode -------------------------------------------------------------------------------

EXPERT = '[class*="st-key-expert-settings"]'
METRIC_VALUE = '[data-testid="stMetricValue"]'
MIN_CLASS_FIGURE_PX = 40  # a headline figure in class mode: legible from the back of a classroom
MIN_TEXT_CONTRAST = 4.5  # WCAG AA for body text …
MIN_CHART_TEXT_CONTRAST = 3.0  # … and for chart labels (graphics and large text)
CHART_TEXTS_JS = f"""() => [...document.querySelectorAll('{CHART} svg text')]
    .filter(t => t.textContent.trim() && t.closest('{CHART}').offsetParent !== null
                 && getComputedStyle(t).fill !== 'none' && getComputedStyle(t).opacity !== '0')
    .map(t => [t.textContent.trim(), getComputedStyle(t).fill])"""
# Streamlit draws a chosen tab, segment or slider value in its accent colour (3.9:1 on dark): its choice, left out
PAGE_TEXTS_JS = """() => [...document.querySelectorAll(`[data-testid="stMain"] h1, [data-testid="stMain"] p,
    [data-testid="stMetricValue"], [data-testid="stSidebar"] p`)]
    .filter(e => e.textContent.trim() && e.offsetParent !== null
                 && !e.closest(`[role="tab"], [data-testid="stButtonGroup"], [data-testid="stSlider"]`))
    .map(e => [e.textContent.trim().slice(0, 40), getComputedStyle(e).color])"""
BACKGROUND_JS = """() => getComputedStyle(document.querySelector('[data-testid="stApp"]')).backgroundColor"""


def _rgb(colour: str) -> tuple[float, float, float]:
    """'rgb(1, 2, 3)', 'rgba(…)' or '#rrggbb' as 0–255 floats."""
    if colour.startswith("#"):
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(float(x) for x in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3])


def _contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours."""
    def luminance(colour: str) -> float:
        c = [x / 255 for x in _rgb(colour)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _illegible(pg, script: str, minimum: float) -> list:
    background = pg.evaluate(BACKGROUND_JS)
    return [(text, colour, round(_contrast(colour, background), 2)) for text, colour in pg.evaluate(script)
            if _contrast(colour, background) < minimum]


def _truncated(pg) -> list[str]:
    """The metric values and labels on the page drawn cut short (their text wider than their box)."""
    return pg.evaluate("""() => [...document.querySelectorAll('[data-testid="stMetricValue"] *, [data-testid="stMetricLabel"] *')]
        .filter(e => e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0).map(e => e.textContent)""")


def _font_px(locator) -> float:
    return float(locator.evaluate("e => getComputedStyle(e.querySelector('p') || e).fontSize").rstrip("px"))


def test_class_mode_hides_expert_settings_and_runs_a_ready_comparison_in_large_type(server, laptop):
    if not SPEECH.is_dir():
        pytest.skip("../shared/speech is not present")
    pg = laptop
    pg.goto(f"{server}/transcribe?class=true")
    pg.get_by_role("heading", name="Transcribe").first.wait_for(timeout=RENDER_S * 1000)
    _settle(pg)
    _no_errors(pg)
    assert pg.locator('[data-testid="stSidebar"]').get_by_role("switch", name="Class mode").is_checked()
    assert pg.locator(EXPERT).count() >= 1 and not pg.locator(EXPERT).first.is_visible()
    assert not pg.get_by_text("Runtime", exact=True).is_visible()  # an expert setting, hidden
    ready = pg.get_by_role("button", name="batch 1 vs 8", exact=True)
    assert _in_viewport(pg, ready) and _in_viewport(pg, _run_button(pg))
    assert pg.get_by_role("button", name="CPU vs GPU", exact=True).count() == 0  # no GPU on this machine
    assert pg.get_by_role("button", name="tiny vs small", exact=True).count() == 1  # models named by size
    ready.click()
    # while it runs (three rounds of each): the Run button and the live power chart in view, nobody scrolling
    chart = pg.locator(CHART).first
    chart.wait_for(timeout=RUN_S * 1000)
    _stop_button(pg).wait_for(timeout=RUN_S * 1000)
    pg.wait_for_timeout(1000)
    assert _in_viewport(pg, chart) and _in_viewport(pg, _run_button(pg)), chart.bounding_box()
    pg.get_by_role("heading", name="Results").wait_for(timeout=RUN_S * 3000)
    _settle(pg, RUN_S)
    _no_errors(pg)
    assert pg.get_by_text("Time", exact=True).count() == 2  # the hour's figures: batch 1 and batch 8, side by side
    assert pg.get_by_text("Latency per clip", exact=True).count() == 0 and pg.get_by_text("CER", exact=True).count() == 0
    assert min(_font_px(v) for v in pg.locator(METRIC_VALUE).all()) >= MIN_CLASS_FIGURE_PX
    assert pg.get_by_text("this machine's noise", exact=False).count() == 1  # the verdict over three rounds
    # the results scrolled into view by themselves: their heading and each card's hour figures on the screen
    pg.wait_for_timeout(1000)
    assert _in_viewport(pg, pg.get_by_role("heading", name="Results"))
    assert all(_in_viewport(pg, v) for v in pg.locator(METRIC_VALUE).all()[:4])
    assert not any(_truncated(pg))
    _viewport_screenshot(pg, "transcribe-class")
    # the switch off again: the settings come back with the values they had
    pg.locator('[data-testid="stSidebar"]').get_by_text("Class mode", exact=True).click()
    _settle(pg)
    assert pg.get_by_text("Runtime", exact=True).is_visible()
    assert "class=" not in pg.url


@pytest.fixture
def dark(browser):
    """A 1280×720 page in a browser that prefers a dark colour scheme (Streamlit then draws its dark theme)."""
    context = browser.new_context(viewport=LAPTOP, color_scheme="dark")
    pg = context.new_page()
    yield pg
    context.close()


def test_dark_mode_text_and_chart_labels_are_legible(server, dark):
    pg = dark
    pg.goto(f"{server}/explore?tab=Trade-offs")
    pg.get_by_role("heading", name=PAGES["explore"][1]).first.wait_for(timeout=RENDER_S * 1000)
    _settle(pg)
    pg.locator(f"{CHART} >> visible=true").first.wait_for(timeout=RENDER_S * 1000)
    pg.wait_for_timeout(1000)
    assert _contrast(pg.evaluate(BACKGROUND_JS), "#ffffff") > 10, "the dark theme is drawn"
    assert pg.evaluate(CHART_TEXTS_JS), "the trade-off chart's labels are read"
    assert _illegible(pg, CHART_TEXTS_JS, MIN_CHART_TEXT_CONTRAST) == []  # axes, legend, the pick's label
    assert _illegible(pg, PAGE_TEXTS_JS, MIN_TEXT_CONTRAST) == []
    _screenshot(pg, "explore-dark")
    if not SPEECH.is_dir():
        return
    _open(pg, server, "transcribe")
    pg.get_by_text("synthetic", exact=True).click()
    _settle(pg)
    _run_button(pg).click()
    pg.get_by_role("heading", name="Results").wait_for(timeout=RUN_S * 1000)
    _settle(pg, RUN_S)
    pg.wait_for_timeout(1000)
    assert _illegible(pg, CHART_TEXTS_JS, MIN_CHART_TEXT_CONTRAST) == []  # the power chart's warm-up label too
    assert _illegible(pg, PAGE_TEXTS_JS, MIN_TEXT_CONTRAST) == [], _illegible(pg, PAGE_TEXTS_JS, MIN_TEXT_CONTRAST)


REDACTED = "This app has encountered an error"  # Streamlit's own sentence with client.showErrorDetails = "none"
GUARDED = "Something went wrong on this page."  # state.UNEXPECTED: the page guard's sentence


@pytest.mark.parametrize("where, sentence", [("page", GUARDED), ("app", REDACTED)])
def test_a_bug_shows_a_visitor_one_sentence_and_no_path_or_source(server, page, where, sentence):
    """An exception raised on purpose inside the page guard (state.run_page), and outside it (config.toml must hide
    it): the visitor reads one sentence; no server path, source line, traceback or exception message reaches the
    page, not even in its HTML."""
    page.goto(f"{server}/?fail={where}")
    page.get_by_text(sentence).first.wait_for(timeout=RENDER_S * 1000)
    _settle(page)
    shown, html = page.locator("body").inner_text(), page.content()
    for leak in (str(ROOT), "/asr_app/", ".py", "Traceback", 'File "', "RuntimeError", "on purpose"):
        assert leak not in shown and leak not in html, leak
    assert not re.search(r"line \d+", shown + html)  # a traceback's "line 42"


# --- Explore and Recommend on a projector (1280×720) -----------------------------------------------------------

MIN_PLOT_PX = 180  # a plot a class can read, however many configurations its legend lists
# tab -> (its screenshot, x-axis labels that must all be drawn)
EXPLORE_TABS = {
    "Leaderboard": ("explore-leaderboard", ()),
    "Per audio hour": ("explore-per-hour", ("5s", "15s", "30s", "60s")),
    "Accuracy": ("explore-accuracy", ("5s", "15s", "30s", "60s", "test-other", "TED-LIUM")),
    "Speed & energy": ("explore-speed", ("5s", "15s", "30s", "60s")),
    "Trade-offs": ("explore-tradeoffs", ()),
    "Batch size & compute": ("explore-batch", ("1", "4", "8")),
    "Stages": ("explore-stages", ()),
    "CPU vs GPU": ("explore-cpu-vs-gpu", ("T4", "A100-80GB", "H100-SXM")),
}
CHART_LAYOUT_JS = f"""() => [...document.querySelectorAll('{CHART}')].filter(c => c.offsetParent !== null).map(c => {{
    const box = c.getBoundingClientRect();
    const plot = c.querySelector('svg path.background');
    const title = c.querySelector('g.role-title-text text');
    return {{plot: plot ? plot.getBoundingClientRect().height : 0,
             labels: [...c.querySelectorAll('g.role-axis-label text')].map(t => t.textContent),
             title: title ? title.textContent : '',
             titleInside: title ? title.getBoundingClientRect().right <= box.right + 1
                                  && title.getBoundingClientRect().top >= box.top - 1 : true}}; }})"""


def _laptop_screenshot(pg, name: str) -> None:
    """What the room sees without scrolling, then the whole page at 1280 wide (a projector's width); docs/ with the
    real sweep."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}-viewport.png"))
    _to_docs(_full_page(pg, name, LAPTOP))


@pytest.mark.parametrize("tab", list(EXPLORE_TABS))
def test_explore_charts_are_readable_on_a_projector(server, laptop, tab):
    """Every chart of every tab at 1280×720: a plot area of at least MIN_PLOT_PX, every category on its x axis
    labelled, the title inside the chart; with as many configurations as the shipped sweep holds."""
    name, labels = EXPLORE_TABS[tab]
    laptop.goto(f"{server}/explore?tab={quote(tab)}&all=true")  # every configuration: the longest legends
    laptop.get_by_role("heading", name=PAGES["explore"][1]).first.wait_for(timeout=RENDER_S * 1000)
    _settle(laptop)
    if tab != "Leaderboard":
        laptop.locator(f"{CHART} svg path.background").first.wait_for(timeout=RENDER_S * 1000)
        laptop.wait_for_timeout(1000)
    _no_errors(laptop)
    charts = laptop.evaluate(CHART_LAYOUT_JS)
    assert tab == "Leaderboard" or charts, tab
    for chart in charts:
        assert chart["plot"] >= MIN_PLOT_PX, chart
        assert chart["titleInside"], chart
    drawn = " ".join(label for chart in charts for label in chart["labels"])
    for label in labels:
        assert label in drawn, (label, drawn)
    assert laptop.get_by_text("No GPU measurements yet", exact=False).count() >= 1  # beside the device filter
    laptop.goto(f"{server}/explore?tab={quote(tab)}")  # the screenshot as a class first sees it: the defaults
    laptop.get_by_role("heading", name=PAGES["explore"][1]).first.wait_for(timeout=RENDER_S * 1000)
    _settle(laptop)
    laptop.wait_for_timeout(1500)
    _laptop_screenshot(laptop, name)


def test_recommend_opens_with_its_sentence_large_and_in_view(server, laptop):
    _open(laptop, server, "recommend")
    sentence = laptop.locator(f".st-key-{HEADLINE_KEY} p").first
    sentence.wait_for(timeout=RENDER_S * 1000)
    assert _in_viewport(laptop, sentence)
    assert _font_px(laptop.locator(f".st-key-{HEADLINE_KEY}")) >= 24
    shown = sentence.inner_text()
    assert "\u00a0Wh" in shown  # present.keep_units: a figure and its unit never break apart on a projector
    text = shown.replace("\u00a0", " ")
    assert " per hour of audio" in text and " Wh" in text and "WER " in text
    _no_errors(laptop)
    _laptop_screenshot(laptop, "recommend")
    laptop.goto(f"{server}/recommend?use_case={quote('Offline lectures')}&rec_device={quote('T4 (projected)')}")
    _settle(laptop)
    assert "(projected)" in laptop.locator(f".st-key-{HEADLINE_KEY} p").first.inner_text()
    _laptop_screenshot(laptop, "recommend-gpu")


# --- the power trace with a spiky meter ---------------------------------------------------------------------

AXIS_RANGE = re.compile(r"Y-axis titled 'power \(W\)' for a linear scale with values from [\d.]+ to ([\d.]+)")
CPU_ESTIMATE_CEILING_W = 85.0  # hardware.CPU_TDP_W_DEFAULT: every logical core busy
NICE_AXIS_W = 100.0  # the axis Vega draws over a trace that reaches the ceiling (a spike would take it past 160)


@pytest.fixture(scope="module")
def spiky_server(tmp_path_factory):
    """The app with a CPU meter that reads lumps of CPU time (meter_fakes.SpikyProcess, tests/spiky_meter_app.py)."""
    yield from _serve(tmp_path_factory, [sys.executable, str(ROOT / "tests" / "spiky_meter_app.py")])


def test_the_power_trace_stays_under_its_ceiling_with_a_spiky_meter(spiky_server, laptop):
    pg = laptop
    _run_until_results(pg, spiky_server)
    _no_errors(pg)
    labels = pg.evaluate(f"""() => [...document.querySelectorAll('{CHART} svg [aria-label]')]
        .map(e => e.getAttribute('aria-label'))""")
    top = max(float(m.group(1)) for label in labels if (m := AXIS_RANGE.match(label)))
    assert top <= NICE_AXIS_W, top
    log = SERVER_LOGS[spiky_server].read_text()
    assert "left out of the power trace" in log  # the fake did spike, and the spikes were refused, not drawn
    pg.screenshot(path=str(ARTIFACTS / "transcribe-spiky-meter.png"))
