"""Live captions end to end: `streamlit run` in a subprocess, headless Chromium whose fake microphone plays the
62 s TED sample (converted to a temporary WAV: Chromium reads WAV only), the audio over WebRTC on localhost.

Captions must appear while the audio plays, and the end card must show the lag and the energy. Screenshots at
1280×720 go to artifacts/screenshots/ (gitignored), and to docs/screenshots/ with ASR_UPDATE_SCREENSHOTS=1.
"""
from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from helpers import SHARED, TINY_EN
from test_browser import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, LAPTOP, LOCAL_HOSTS, RENDER_S, _to_docs,  # noqa: F401
                          server)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TED_62S = SHARED / "speech" / "ted-talk-samples" / "BillGates_2015-opening.mp3"
FAKE_MIC = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
CAPTIONS = "[data-testid='live-captions']"
PREPARE_S = 240  # loading the model and timing a decode, on a busy machine
FIRST_WORDS_S = 45  # captions must show words this soon after Start: well before the 62 s of audio end
LISTEN_S = 30  # then listen this long before pressing Stop
END_CARD_S = 180  # the last decode and the offline transcription of what was heard


@pytest.fixture(scope="module")
def talk_wav(tmp_path_factory) -> Path:
    if not (TED_62S.is_file() and TINY_EN.is_dir()):
        pytest.skip("../shared (the TED sample and the tiny.en checkpoint) is not present")
    import soundfile as sf
    from asr_core.audio import SAMPLE_RATE, load_audio
    path = tmp_path_factory.mktemp("fake-mic") / "talk.wav"
    sf.write(path, load_audio(TED_62S), SAMPLE_RATE, subtype="PCM_16")
    return path


@pytest.fixture
def speaking_browser(talk_wav):
    """Chromium whose microphone plays the talk once, at 1280×720, recording every URL it requests."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            *CHROMIUM_ARGS, *FAKE_MIC, f"--use-file-for-fake-audio-capture={talk_wav}%noloop"])
        context = browser.new_context(viewport=LAPTOP, permissions=["microphone"])
        pg = context.new_page()
        pg.requested = []
        pg.on("request", lambda request: pg.requested.append(request.url))
        yield pg
        browser.close()


def _choose(pg, label: str, option: str) -> None:
    pg.get_by_role("combobox", name=label, exact=True).click()
    pg.get_by_role("option", name=option, exact=True).click()


def _wait_for_text(pg, selector: str, timeout_s: float, predicate) -> str:
    deadline = time.time() + timeout_s
    text = ""
    while time.time() < deadline:
        texts = pg.locator(selector).all_inner_texts()
        text = texts[0] if texts else ""
        if predicate(text):
            return text
        pg.wait_for_timeout(500)
    raise AssertionError(f"not seen within {timeout_s} s; last: {text!r}")


def _screenshot(pg, name: str) -> None:
    """The viewport at 1280×720; into docs/ too with ASR_UPDATE_SCREENSHOTS=1 (the README shows it)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    _to_docs(ARTIFACTS / f"{name}.png", needs_sweep=False)


def test_captions_appear_while_the_talk_plays_and_the_end_card_shows_lag_and_energy(server, speaking_browser):
    pg = speaking_browser
    pg.goto(f"{server}/transcribe")
    pg.get_by_role("heading", name="Transcribe").first.wait_for(timeout=RENDER_S * 1000)
    pg.get_by_text("Live captions: speak").click()
    pg.get_by_text("One decode takes about").first.wait_for(timeout=PREPARE_S * 1000)
    _choose(pg, "Runtime", "ctranslate2")  # the quickest runtime here: a busy machine still keeps up
    pg.get_by_text("timed here just now").first.wait_for(timeout=PREPARE_S * 1000)
    _choose(pg, "Precision", "int8")
    pg.wait_for_timeout(1000)
    pg.get_by_text("timed here just now").first.wait_for(timeout=PREPARE_S * 1000)
    mic = pg.frame_locator("iframe[title='streamlit_webrtc.component.webrtc_streamer']")
    mic.get_by_text("Start listening").click()
    started = time.time()
    first = _wait_for_text(pg, CAPTIONS, FIRST_WORDS_S, lambda t: any(w in t.lower() for w in ("nuclear", "war",
                                                                                              "disaster")))
    assert time.time() - started < 62, "the captions came only after the talk had ended"
    pg.wait_for_timeout(max(0.0, LISTEN_S - (time.time() - started)) * 1000)
    captions = pg.locator(CAPTIONS).inner_text()
    assert len(captions.split()) > len(first.split()), "the captions did not grow while the talk played"
    labels = pg.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    assert any(label.startswith("Lag") for label in labels) and any(label.startswith("Power now") for label in labels)
    _screenshot(pg, "live-captions")
    mic.get_by_text("Stop listening").click()
    card = pg.locator(".st-key-live-end-card")
    card.wait_for(timeout=END_CARD_S * 1000)
    card.get_by_text("You spoke for").wait_for(timeout=END_CARD_S * 1000)
    labels = card.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    assert "Lag median · 90th pct" in labels and any(label.startswith("Energy (") for label in labels), labels
    values = dict(zip(labels, card.locator('[data-testid="stMetricValue"]').all_inner_texts()))
    assert values["Lag median · 90th pct"].endswith(" s") and "Wh" in next(
        v for k, v in values.items() if k.startswith("Energy ("))
    _screenshot(pg, "live-captions-end")
    outside = {urlparse(u).hostname for u in pg.requested if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert outside <= LOCAL_HOSTS, f"the page reached beyond this machine: {outside - LOCAL_HOSTS}"
