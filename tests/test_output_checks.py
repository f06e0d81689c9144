"""Notes on what a run produced: a transcript of silence, no transcript of speech that has a reference."""
from __future__ import annotations

import numpy as np

from asr_core.output_checks import SILENCE_NOTE, nearly_silent, output_notes
from helpers import tone

SILENCE = np.zeros(16000, dtype=np.float32)


def test_nearly_silent_clips_are_told_apart_from_speech():
    assert nearly_silent(SILENCE) and nearly_silent(np.full(16000, 5e-4, dtype=np.float32))
    assert nearly_silent(np.zeros(0, dtype=np.float32))
    assert not nearly_silent(tone(1.0))


def test_whisper_on_silence_gets_the_note_the_app_captions():
    assert output_notes([SILENCE], ["you"], [], "pretrained") == f"clip 1 nearly silent: {SILENCE_NOTE}"


def test_an_empty_transcript_of_sound_with_a_reference_is_flagged():
    notes = output_notes([tone(1.0), tone(1.0), SILENCE], ["", "hello", ""], ["hello", "hello", "hello"], "pretrained")
    assert notes.startswith("clip 3 nearly silent: ")
    assert notes.endswith("; clip 1 gave no transcript although the audio holds sound and has a reference: the model "
                          "may be broken, or its converted engine file damaged (delete that file to convert it again)")


def test_no_note_without_a_reference_or_with_synthetic_weights():
    assert output_notes([tone(1.0)], [""], [], "pretrained") == ""
    assert output_notes([tone(1.0)], [""], [" "], "pretrained") == ""
    assert output_notes([SILENCE, tone(1.0)], ["", ""], ["a", "b"], "synthetic") == ""
    assert output_notes([tone(1.0), tone(1.0)], ["", ""], ["a", "b"], "pretrained").startswith("clips 1, 2 gave no")
