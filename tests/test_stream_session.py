"""A live session (asr_core/stream_session.py): the one adapter into the runtimes, the worker, the energy
window over the session, the end record with its offline comparison, and the keeps-up outlook."""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest

from asr_core import stream_session
from asr_core.energy import EnergyMonitor
from asr_core.errors import ModelError
from asr_core.runtimes import eager, load_model
from asr_core.stream_session import LiveSession, decoder_for, outlook, probe, with_offline
from asr_core.streaming import ManualClock, StreamOptions
from helpers import tone
from meter_fakes import RAPL_W, SteadyRapl
from test_streaming import fake_decode, fake_speech

def metered() -> EnergyMonitor:
    return EnergyMonitor(rapl=SteadyRapl())


# --- the adapter -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["tiny_whisper_dir", "tiny_ctc_dir"])
def test_the_adapter_decodes_as_the_runtimes_reference_path_does(fixture, request):
    model = load_model(str(request.getfixturevalue(fixture)), "cpu", "fp32", "pretrained")
    audio = tone(3.0)
    assert decoder_for(model)(audio) == eager.reference_transcribe(model, [audio])[0]


def test_synthetic_weights_are_refused_in_one_sentence(tiny_ctc_dir):
    model = dataclasses.replace(load_model(str(tiny_ctc_dir), "cpu", "fp32", "pretrained"), weights="synthetic")
    with pytest.raises(ModelError, match="trained weights"):
        decoder_for(model)


# --- a session ---------------------------------------------------------------------------------------

def test_a_session_shows_what_was_said_and_records_its_cost():
    audio, said = fake_speech(20)
    session = LiveSession(fake_decode, monitor=metered()).start()
    for chunk in np.array_split(audio, 200):
        session.feed(chunk)
    deadline = time.time() + 10
    while math.isnan(session.view().power_w) and time.time() < deadline:  # the sampler's first readings
        time.sleep(0.05)
    view = session.view()
    assert view.power_w == pytest.approx(RAPL_W, rel=0.05) and view.power_source == "rapl"
    record = session.stop()
    assert record.text == said and record.words == len(said.split())
    assert record.speech_s == pytest.approx(audio.shape[0] / 16000) == record.kept_s
    assert record.energy_source == "rapl"
    assert record.mean_power_w == pytest.approx(RAPL_W, rel=0.01)
    assert record.energy_per_audio_hour_wh == pytest.approx(record.energy_j / record.speech_s)  # J/s is Wh/h
    assert 0 < record.busy_share <= 1 and record.decodes >= 1
    assert np.array_equal(session.audio, audio)


def test_a_session_keeps_only_keep_s_of_audio_for_the_offline_comparison():
    session = LiveSession(fake_decode, monitor=metered(), keep_s=2.0).start()
    session.feed(np.zeros(5 * 16000, np.float32))
    record = session.stop()
    assert record.kept_s == 2.0 and record.speech_s == 5.0


def test_a_failing_decoder_is_shown_and_raised_at_stop():
    def broken(audio: np.ndarray) -> str:
        raise RuntimeError("the engine broke")
    session = LiveSession(broken, monitor=metered()).start()
    session.feed(fake_speech(4)[0])
    deadline = time.time() + 10
    while not session.view().error and time.time() < deadline:
        time.sleep(0.05)
    assert session.view().error == "the engine broke"
    with pytest.raises(RuntimeError, match="the engine broke"):
        session.stop()


def test_falling_behind_is_flagged():
    clock = ManualClock()

    def slow(audio: np.ndarray) -> str:
        clock.advance(0.95)  # a step of audio takes 0.95 s to decode
        return fake_decode(audio)
    session = LiveSession(slow, monitor=metered(), clock=clock)
    audio, _ = fake_speech(10)
    for second in range(int(audio.shape[0] / 16000)):
        session.feed(audio[second * 16000:(second + 1) * 16000], at=clock())
        session.transcriber.step()
        clock.t = max(clock.t, second + 1.0)
    assert session.view().behind and session.view().stream.skipped_s == 0


def test_the_offline_comparison_is_the_measured_path_on_the_same_audio(tiny_whisper_dir):
    model = load_model(str(tiny_whisper_dir), "cpu", "fp32", "pretrained")
    decode = decoder_for(model)
    audio = tone(4.0)
    session = LiveSession(decode, monitor=metered()).start()
    session.feed(audio)
    record = with_offline(session.stop(model), model, session.audio, "a reference text")
    assert record.offline_text == decode(audio)  # the measured path's transcript of the same audio
    assert record.model == str(tiny_whisper_dir) and record.runtime == "transformers"
    assert record.reference == "a reference text" and not math.isnan(record.wer)
    assert record.offline_latency_s > 0 and record.offline_energy_source != ""


# --- will it keep up? --------------------------------------------------------------------------------

@pytest.mark.parametrize("decode_s, verdict", [(0.2, stream_session.KEEPS_UP), (0.8, stream_session.BARELY),
                                               (3.0, stream_session.BEHIND), (8.0, stream_session.SKIPS)])
def test_the_outlook_follows_one_decodes_time(decode_s, verdict):
    o = outlook(decode_s, StreamOptions(step_s=1.0), "a probe on this machine")
    assert o.verdict == verdict
    assert o.busy_share == pytest.approx(min(1.0, decode_s))
    assert o.lag_s == pytest.approx(max(1.0, decode_s) + decode_s)
    assert "a probe on this machine" in o.sentence and verdict in o.sentence


def test_the_probe_times_the_second_decode():
    clock, costs = ManualClock(), iter([5.0, 0.4])  # the first decode is slow: it warms the model up

    def decode(audio: np.ndarray) -> str:
        clock.advance(next(costs))
        return ""
    assert probe(decode, np.zeros(16000, np.float32), clock) == pytest.approx(0.4)
