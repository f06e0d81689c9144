"""The streaming policy (asr_core/streaming.py) in simulated real time.

Fast: a fake decoder that hears words in synthetic "speech" (one tone burst per word, each word its own
pitch, a long pause after a sentence's last word, which it writes with a full stop, as a model infers one).
Slow: the real Whisper tiny.en checkpoint on the 62 s TED sample and on LibriSpeech utterances, streamed in
real-time steps on a simulated clock, its confirmed text held to the offline transcript.
"""
from __future__ import annotations

import csv

import numpy as np
import pytest

from asr_core import scoring, streaming
from asr_core.audio import SAMPLE_RATE, load_audio
from asr_core.streaming import ManualClock, StreamingTranscriber, StreamOptions, simulate
from helpers import SHARED, SPEECH, TINY_EN, needs_shared, speech_refs

VOCAB = ["when", "i", "was", "a", "kid", "the", "disaster", "we", "worried", "about", "most", "nuclear", "war",
         "that's", "why", "had", "barrel", "like", "this", "down", "in", "our", "basement", "filled", "with",
         "cans", "of", "food", "and", "water"]
WORD_S, GAP_S, PAUSE_S = 0.3, 0.12, 0.6  # a word, the gap inside a sentence, the pause after it
PERIOD_AFTER_S = 0.45  # the fake decoder writes a full stop after a word followed by this much silence
FRAME = SAMPLE_RATE // 100
TED = SHARED / "speech" / "ted-talk-samples"
TED_62S = TED / "BillGates_2015-opening.mp3"
COST_S = 0.5  # what one decode costs on the simulated clock in the real-checkpoint tests
STREAMED_VS_OFFLINE_WER = 0.10  # streamed text within 10 % word errors of the offline transcript …
STREAMED_VS_REFERENCE_MARGIN = 0.05  # … and its WER within 5 points of the offline WER


def pitch(i: int) -> float:
    return 300.0 + 40.0 * i


def fake_speech(n_words: int, sentence: int = 6, seed: int = 0, pause_s: float = PAUSE_S,
                lead_s: float = 0.0) -> tuple[np.ndarray, str]:
    """Tone bursts, one per word (its pitch names it), sentences of `sentence` words; the text it says."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(WORD_S * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.sin(np.pi * t / WORD_S) ** 0.3
    parts, words = [np.zeros(int(lead_s * SAMPLE_RATE), np.float32)], []
    for k in range(n_words):
        i = int(rng.integers(len(VOCAB)))
        parts.append((0.3 * envelope * np.sin(2 * np.pi * pitch(i) * t)).astype(np.float32))
        end = (k + 1) % sentence == 0
        parts.append(np.zeros(int((pause_s if end else GAP_S) * SAMPLE_RATE), np.float32))
        words.append(VOCAB[i] + ("." if end and pause_s >= PERIOD_AFTER_S else ""))
    return np.concatenate(parts), " ".join(words)


def fake_decode(audio: np.ndarray, unstable: bool = False) -> str:
    """The words of the bursts in audio; a burst cut by the buffer's start or end is heard only if most of it is
    there. unstable: the word nearest the buffer's end is misheard, as a model guesses at a word just begun."""
    n = audio.shape[0] // FRAME
    voiced = np.sqrt((audio[: n * FRAME].reshape(n, FRAME) ** 2).mean(axis=1)) > 0.02
    words, k = [], 0
    while k < n:
        if not voiced[k]:
            k += 1
            continue
        j = k
        while j < n and voiced[j]:
            j += 1
        if (j - k) * FRAME >= 0.7 * WORD_S * SAMPLE_RATE:
            seg = audio[k * FRAME: j * FRAME]
            peak = np.argmax(np.abs(np.fft.rfft(seg))) * SAMPLE_RATE / seg.shape[0]
            word = VOCAB[int(np.clip(round((peak - 300.0) / 40.0), 0, len(VOCAB) - 1))]
            silent_after = (n - j) * FRAME / SAMPLE_RATE if j >= n or not voiced[j:].any() else \
                (np.argmax(voiced[j:])) * FRAME / SAMPLE_RATE
            if unstable and (n - j) * FRAME < 0.25 * SAMPLE_RATE:
                word = "umm"
            words.append(word + ("." if silent_after >= PERIOD_AFTER_S and j < n else ""))
        k = j
    return " ".join(words)


def wer(ref: str, hyp: str) -> float:
    return scoring.wer([ref], [hyp])


# --- the rule, piece by piece --------------------------------------------------------------------

def test_words_are_compared_without_case_or_punctuation():
    assert streaming.norm("World,") == streaming.norm("world") == "world"
    assert streaming.norm("That's") == "that's"
    assert streaming.ends_sentence("war.") and streaming.ends_sentence('"Why?"') and not streaming.ends_sentence("war")


def test_the_confirmed_words_a_decode_repeats_are_found_even_when_it_changes_some():
    past = streaming.past_confirmed
    assert past(["a", "b", "c"], ["a", "b", "c", "d", "e"]) == 3
    assert past(["a", "b", "c"], ["a", "x", "c", "d"]) == 3  # one changed
    assert past(["a", "b", "c", "d"], ["a", "b", "d", "e"]) == 3  # one missing
    assert past(["w", "x", "y", "b", "c"], ["b", "c", "d"]) == 2  # the first ones were cut away
    assert past(["w", "x", "y", "b", "c"], ["x", "y", "b", "c", "d"]) == 4  # a cut placed early repeats some
    assert past(["a", "b"], ["x", "y", "z"]) == 0  # none heard again: all of it is new
    assert past([], ["a"]) == 0


def test_words_repeated_from_the_confirmed_text_after_a_cut_are_dropped():
    assert streaming.repeated_overlap(["the", "nuclear", "war"], ["war", "that's", "why"]) == 1
    assert streaming.repeated_overlap(["the", "nuclear", "war"], ["nuclear", "war", "that's"]) == 2
    assert streaming.repeated_overlap(["the", "nuclear", "war"], ["that's", "the", "war"]) == 0


def test_a_word_is_confirmed_only_when_two_decodes_agree():
    said = iter(["when i", "when i was a", "when i was a kid", "when i was a kid"])
    clock = ManualClock()
    t = StreamingTranscriber(lambda audio: next(said), StreamOptions(speech_rms=0.0), clock)
    shown = []
    for _ in range(4):
        clock.advance(1.0)
        t.feed(np.full(SAMPLE_RATE, 0.1, np.float32))
        t.step()
        shown.append((t.state().confirmed, t.state().tentative))
    assert shown == [("", "when i"), ("when i", "was a"), ("when i was a", "kid"), ("when i was a kid", "")]


def test_options_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="step_s"):
        StreamOptions(step_s=12.0)
    with pytest.raises(ValueError, match="max_buffer_s"):
        StreamOptions(max_buffer_s=40.0)  # Whisper hears 30 s at most


# --- a whole talk in simulated real time ---------------------------------------------------------

def test_the_confirmed_text_is_what_was_said_and_lags_one_step_and_one_decode():
    audio, said = fake_speech(120)  # about a minute
    sim = simulate(audio, fake_decode, cost_s=0.2)
    state = sim.transcriber.state()
    assert state.confirmed == said
    assert state.tentative == "" and state.skipped_s == 0
    assert max(state.lags_s) <= 1.0 + 0.2 + 0.021  # a step of audio, one decode, one chunk
    assert state.busy_share == pytest.approx(0.2 * state.decodes / state.wall_s)


def test_an_unsteady_last_word_is_never_confirmed():
    audio, said = fake_speech(60, seed=1)
    state = simulate(audio, lambda a: fake_decode(a, unstable=True), cost_s=0.2).transcriber.state()
    assert "umm" not in state.confirmed
    assert wer(said, state.confirmed) == 0


def test_trimming_keeps_the_buffer_bounded_over_a_long_talk():
    audio, said = fake_speech(600, seed=2)  # about five minutes
    sim = simulate(audio, fake_decode, cost_s=0.2)
    assert sim.transcriber.state().confirmed == said
    assert sim.max_buffer_s <= StreamOptions().trim_s + 2 * StreamOptions().step_s


def test_without_sentence_ends_the_buffer_is_cut_after_a_confirmed_word():
    audio, said = fake_speech(200, sentence=10**6, seed=3)  # no pause long enough for a full stop
    sim = simulate(audio, fake_decode, cost_s=0.2)
    assert "." not in said
    assert wer(said, sim.transcriber.state().confirmed) <= 0.02  # a cut inside speech may cost a word
    assert sim.max_buffer_s <= StreamOptions().word_trim_s + 2 * StreamOptions().step_s


def test_silence_is_not_decoded():
    audio, said = fake_speech(12, lead_s=4.0, seed=4)
    sim = simulate(audio, fake_decode, cost_s=0.2)
    state = sim.transcriber.state()
    assert state.confirmed == said
    assert state.silence_s >= 3.0
    assert state.decodes < len(audio) / SAMPLE_RATE - 3  # no decode while only silence had arrived


def test_a_decoder_too_slow_for_real_time_skips_audio_and_says_so():
    audio, said = fake_speech(150, seed=5)
    options = StreamOptions()
    sim = simulate(audio, fake_decode, options, cost_s=options.max_buffer_s + 5)
    state = sim.transcriber.state()
    assert state.skipped_s >= 5.0 and sim.transcriber.skips >= 1
    assert sim.max_buffer_s <= options.max_buffer_s + 1e-6  # never more than the limit decoded at once
    assert wer(said, state.confirmed) > 0.1  # the skipped words are missing, not invented
    assert state.busy_share > 0.9


def test_feeding_from_another_thread_while_stepping_loses_nothing():
    import threading
    audio, said = fake_speech(30, seed=6)
    t = StreamingTranscriber(fake_decode)
    chunks = np.array_split(audio, 500)

    def speak():
        for c in chunks:
            t.feed(c)
    speaker = threading.Thread(target=speak)
    speaker.start()
    while speaker.is_alive():
        if t.ready():
            t.step()
    speaker.join()
    t.finish()
    assert t.audio_s == pytest.approx(audio.shape[0] / SAMPLE_RATE)
    assert t.state().confirmed == said


# --- the real checkpoint on real speech (slow) -----------------------------------------------------

@pytest.fixture(scope="module")
def tiny_en():
    from asr_core.runtimes import load_model
    from asr_core.stream_session import decoder_for
    return decoder_for(load_model(str(TINY_EN), "cpu", "int8", "pretrained", "ctranslate2"))


def ted_reference() -> str:
    with open(TED / "manifest.csv", newline="", encoding="utf-8") as f:
        return next(r["text"] for r in csv.DictReader(f) if r["path"] == TED_62S.name)


@pytest.mark.slow
@needs_shared
def test_tiny_en_streamed_on_the_62_s_ted_sample_matches_its_offline_transcript(tiny_en):
    from asr_core.audio import split_long
    audio = load_audio(TED_62S)
    offline = " ".join(tiny_en(piece) for piece in split_long(audio, streaming.WHISPER_WINDOW_S))
    sim = simulate(audio, tiny_en, cost_s=COST_S)
    state, ref = sim.transcriber.state(), ted_reference()
    assert wer(offline, state.confirmed) <= STREAMED_VS_OFFLINE_WER, (offline, state.confirmed)
    assert wer(ref, state.confirmed) <= wer(ref, offline) + STREAMED_VS_REFERENCE_MARGIN
    assert max(state.lags_s) <= StreamOptions().step_s + COST_S + 0.021
    assert sim.max_buffer_s <= StreamOptions().word_trim_s + 2 * StreamOptions().step_s
    assert state.skipped_s == 0


@pytest.mark.slow
@needs_shared
def test_tiny_en_streamed_on_librispeech_utterances_matches_its_offline_wer(tiny_en):
    refs = speech_refs()
    ids = sorted(refs)[:6]
    gap = np.zeros(int(0.5 * SAMPLE_RATE), np.float32)  # a breath between utterances
    audio = np.concatenate([x for i in ids for x in (load_audio(SPEECH / f"{i}.flac"), gap)])
    reference = " ".join(refs[i] for i in ids)
    offline = " ".join(tiny_en(load_audio(SPEECH / f"{i}.flac")) for i in ids)
    state = simulate(audio, tiny_en, cost_s=COST_S).transcriber.state()
    assert wer(reference, state.confirmed) <= wer(reference, offline) + STREAMED_VS_REFERENCE_MARGIN
    assert wer(offline, state.confirmed) <= STREAMED_VS_OFFLINE_WER
