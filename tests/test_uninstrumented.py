"""The measured loop's work without its instruments: the same transcripts as the measured loop."""
from __future__ import annotations

from asr_core.measure import RunOptions, transcribe
from asr_core.runtimes import load_model
from asr_core.uninstrumented import time_uninstrumented
from helpers import tone


def test_the_same_transcripts_as_the_measured_loop(tiny_ctc_dir):
    model = load_model(str(tiny_ctc_dir), "cpu", "fp32")
    clips = [tone(1.0, 200), tone(2.5, 330, seed=1), tone(1.7, 440, seed=2)]
    measured = transcribe(model, clips, None, RunOptions(batch_size=2, count_flops=False))
    texts, seconds = time_uninstrumented(model, clips, RunOptions(batch_size=2))
    assert texts == list(measured.hypotheses) and seconds > 0
