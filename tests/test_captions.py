"""Live captions in the app (asr_app/captions.py and the Transcribe page's panel): frames to 16 kHz, one
session per browser session, what the page shows while listening and on the end card. The browser's WebRTC
transport is tests/test_browser.py's job; here the microphone widget is replaced by frames fed directly."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from asr_app import captions, compare, state
from asr_app.configs import RunRequest
from asr_core.stream_session import SessionRecord, scored
from asr_core.streaming import StreamOptions, StreamState
from asr_core.stream_session import LiveView
from fakes import fake_sweep
from helpers import ROOT, tone

APP = str(ROOT / "streamlit_app.py")
TIMEOUT_S = 120


def frames(audio16k: np.ndarray, stereo: bool = True) -> list:
    """The audio as a browser sends it: 20 ms frames of 48 kHz int16, stereo by default."""
    import av
    pcm = np.repeat(audio16k, 3)  # 48 kHz by repetition: enough for these tests
    pcm = (np.clip(pcm, -1, 1) * 32767).astype(np.int16)
    out = []
    for i in range(0, pcm.shape[0] - 959, 960):
        chunk = pcm[i:i + 960]
        data = np.stack([chunk, chunk], axis=1).reshape(1, -1) if stereo else chunk.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format="s16", layout="stereo" if stereo else "mono")
        frame.sample_rate, frame.pts = 48000, i
        out.append(frame)
    return out


def record(**over) -> SessionRecord:
    base = dict(model="openai/whisper-tiny.en", runtime="ctranslate2", precision="int8", device="cpu", step_s=1.0,
                speech_s=62.0, words=136, lag_median_s=1.6, lag_p90_s=2.4, busy_share=0.42, busy_s=26.0, wall_s=62.0,
                decodes=60, skipped_s=0.0, silence_s=1.0, energy_j=720.0, energy_source="estimate",
                mean_power_w=11.6, energy_per_audio_hour_wh=720.0 / 62.0, text="when i was a kid",
                offline_text="when i was a kid", offline_latency_s=2.0, offline_energy_j=40.0,
                offline_energy_source="estimate", differs_from_offline=0.0)
    return SessionRecord(**{**base, **over})


# --- the microphone's frames -------------------------------------------------------------------------

@pytest.mark.parametrize("stereo", [True, False])
def test_frames_become_16_khz_mono_float(stereo):
    audio = tone(1.0, freq=440.0)
    convert = captions.FrameConverter()
    out = np.concatenate([convert(f) for f in frames(audio, stereo)])
    assert out.dtype == np.float32 and abs(out.shape[0] - 16000) <= 64
    spectrum = np.abs(np.fft.rfft(out[:16000 - 64]))
    assert np.argmax(spectrum) * 16000 / (16000 - 64) == pytest.approx(440.0, abs=3.0)  # the pitch survives
    assert np.abs(out).max() == pytest.approx(np.abs(audio).max(), rel=0.05)


# --- what the page shows ------------------------------------------------------------------------------

def test_captions_grey_the_tentative_tail_and_escape_what_the_model_wrote():
    shown = captions.caption_html("I <b>said</b>", "this maybe")
    assert "&lt;b&gt;said&lt;/b&gt;" in shown and "<b>" not in shown
    assert f"<span style='{captions.TENTATIVE_CSS}'>maybe</span>" in shown
    assert captions.NOT_LISTENING in captions.caption_html("", "", captions.NOT_LISTENING)


def test_long_captions_keep_the_newest_words_in_view_cut_at_a_word():
    words = [f"word{i}" for i in range(200)]
    shown = captions.caption_html(" ".join(words), "")
    assert shown.count("word") * 7 <= captions.SHOWN_CHARS + 7
    assert "word199" in shown and "word0 " not in shown and "… word" in shown


def test_live_figures_name_the_power_source_and_warn_when_falling_behind():
    stream = StreamState("a b", "c", 2, 30.0, 8.0, 29.0, 30.0, 28, 0.0, 0.0, (1.5, 2.5))
    view = LiveView(stream, 21.4, "estimate")
    figures = {f.label: f.value for f in captions.live_figures(view, 1.0)}
    assert figures == {"Lag (median)": "2.0 s", "Model busy": "96.7 %", "Power now (estimate)": "21 W",
                       "Heard": "30 s · 2 words"}
    assert captions.warnings(view, StreamOptions()) == [captions.BEHIND_NOTE.format(busy=29 / 30)]
    skipped = LiveView(StreamState("", "", 0, 30.0, 20.0, 30.0, 30.0, 3, 7.5, 0.0, ()), math.nan, "unavailable")
    assert "7.5 s of audio was skipped" in captions.warnings(skipped, StreamOptions())[0]
    failed = LiveView(StreamState("", "", 0, 1.0, 1.0, 0.0, 1.0, 0, 0.0, 0.0, ()), math.nan, "estimate", "it broke")
    assert captions.warnings(failed, StreamOptions()) == ["The model failed: it broke"]


def test_the_end_card_says_it_in_a_sentence_then_in_figures():
    r = scored(record(), "when I was a kid")
    assert captions.end_summary(r) == ("You spoke for 62 s: 136 words appeared about 1.6 s after you said them (9 in "
                                       "10 within 2.4 s); the model was busy 42% of the time and the session used "
                                       "0.2 Wh (estimate).")
    figures = {f.label: f.value for f in captions.end_figures(r)}
    assert figures["Lag median · 90th pct"] == "1.6 · 2.4 s"
    assert figures["Energy (estimate)"] == "0.2 Wh" and figures["Per audio hour (estimate)"] == "11.6 Wh"
    assert figures["Skipped audio"] == "0.0 s" and figures["WER streamed · offline"] == "0.0 % · 0.0 %"
    assert "WER streamed · offline" not in {f.label for f in captions.end_figures(record())}  # no reference
    assert "took 2 s and 40 J (estimate)" in captions.offline_sentence(r)


def test_the_end_card_says_what_an_hour_of_live_captions_costs():
    from asr_core import hourly, prices
    costs = hourly.settings(price_kwh=prices.DEFAULT_ELECTRICITY, live=False, table=prices.load())
    costs = dataclasses.replace(costs, grid_country="TST", grid_g_per_kwh=400.0, idle_power_w=50.0)
    said = captions.end_hour(record(), costs)  # live whatever the picker says; no idle draw added to the session's
    assert said.startswith("One hour of live audio like this: the whole hour on this CPU (25 min of it processing)")
    # the session's J per second of speech (720 J / 62 s) = its Wh per hour of speech; × 400 g per kWh
    assert " · 12 Wh · 4.6 g CO2e (TST) · €" in said and "of electricity" in said
    assert said.endswith("(energy estimate)")


def test_the_sweep_figure_comes_from_the_bucket_nearest_a_buffers_length():
    medians = compare.sweep_medians(fake_sweep())
    request = RunRequest("openai/whisper-tiny", "cpu", "fp32", "pretrained", 1, "transformers")
    said = captions.sweep_decode(medians, request)
    row = medians[(medians["model"] == request.model_id) & (medians["device"] == "cpu")
                  & (medians["bucket"] == "15s") & (medians["batch_size"] == 1)
                  & (medians["weights"] == "pretrained")].iloc[0]
    assert f"{row['latency_per_utt_s']:.2f} s for one 15s clip" in said  # 5 s and 15 s tie: the longer one
    assert captions.sweep_decode(medians, RunRequest("openai/whisper-small", "cpu", "fp32", "pretrained")) == ""
    assert captions.sweep_decode(pd.DataFrame(), request) == ""


def test_synthetic_weights_and_impossible_settings_are_refused():
    assert any("trained weights" in p for p in captions.problems(
        RunRequest("openai/whisper-tiny", "cpu", "fp32", "synthetic")))
    assert captions.problems(RunRequest("facebook/wav2vec2-base-960h", "cpu", "fp32", "pretrained",
                                        runtime="ctranslate2"))


# --- one browser session's captions, end to end without a browser ---------------------------------------

def test_a_captioner_starts_with_the_first_frame_and_stops_with_an_offline_comparison(tiny_ctc_dir):
    from asr_core.runtimes import load_model
    model = load_model(str(tiny_ctc_dir), "cpu", "fp32", "pretrained")
    request = RunRequest(str(tiny_ctc_dir), "cpu", "fp32", "pretrained")
    c = captions.Captioner()
    c.arm()
    c.on_frame(frames(tone(0.1))[0])  # before prepare: ignored
    assert not c.listening
    outlook = c.prepare(request, model, (tone(2.0), "2 s of a tone"), "a test")
    assert "timed here just now on 2 s of a tone" in outlook.sentence
    assert c.prepare(request, model, (tone(2.0), "again"), "a test") is outlook  # once per choice
    for f in frames(tone(3.0)):
        c.on_frame(f)
    assert c.listening and c.view().stream.audio_s == pytest.approx(3.0, abs=0.05)
    r = c.stop("a reference")
    assert not c.listening and r is c.record and r.model == str(tiny_ctc_dir)
    assert r.speech_s == pytest.approx(3.0, abs=0.05) and r.reference == "a reference"
    assert not math.isnan(r.offline_latency_s)
    c.on_frame(frames(tone(0.1))[0])  # a frame still in flight after Stop starts nothing
    assert not c.listening and c.record is r


@pytest.fixture
def panel(monkeypatch, tmp_path, tiny_ctc_dir):
    """The Transcribe page with a tiny CTC checkpoint as the only model and a microphone the test drives."""
    from streamlit.testing.v1 import AppTest
    pre = tmp_path / "precomputed"
    pre.mkdir()
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(pre))
    monkeypatch.setenv("ASR_CLIP_CACHE", str(tmp_path / "no-clip-cache"))
    monkeypatch.setattr(captions, "probe_audio", lambda root: (tone(2.0), "2 s of a tone"))
    from asr_app import model_access
    monkeypatch.setenv(model_access.ANY_MODEL_ENV, "1")  # the tiny checkpoint lives outside the allowed folders
    monkeypatch.setattr(model_access, "model_options", lambda root: [str(tiny_ctc_dir)])
    monkeypatch.setattr(model_access, "local_checkpoints", lambda root: [str(tiny_ctc_dir)])
    mic = {"on": False}
    monkeypatch.setattr(state, "microphone", lambda key, on_frame, on_ended=None: mic["on"])
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    at.switch_page("pages/transcribe.py").run()
    at.toggle(key="live-captions").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    return at, mic


def test_the_panel_says_whether_the_model_keeps_up_before_listening(panel):
    at, _ = panel
    assert any("One decode takes about" in c.value and "2 s of a tone" in c.value
               for c in [*at.caption, *at.warning])
    assert any(captions.NOT_LISTENING in m.value for m in at.markdown)
    assert [s.label for s in at.main.selectbox] == ["Model", "Runtime", "Precision", "Device"]


def test_the_panel_shows_captions_while_listening_and_the_end_card_after(panel):
    at, mic = panel
    mic["on"] = True
    at.run()
    captioner = at.session_state[state.CAPTIONER_KEY]
    for f in frames(tone(3.0)):
        captioner.on_frame(f)
    at.run()
    assert {m.label for m in at.metric} >= {"Lag (median)", "Model busy", "Heard"}
    assert all(s.disabled for s in at.main.selectbox)  # no change of model while listening
    mic["on"] = False
    at.text_input(key="live-reference").set_value("some words").run()
    assert not at.exception, [e.value for e in at.exception]
    labels = {m.label for m in at.metric}
    assert {"Speech", "Words", "Lag median · 90th pct", "Model busy", "Skipped audio",
            "WER streamed · offline"} <= labels
    assert any(label.startswith("Energy (") for label in labels)
    assert any("You spoke for 3 s" in m.value for m in at.markdown)
    assert any(m.value.startswith("One hour of live audio like this: the whole hour on this CPU") for m in at.markdown)
