"""The measured loop on tiny random models and on the real tiny.en checkpoint."""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from asr_core.audio import load_audio
from asr_core.errors import ResourceError
from asr_core.measure import RunControl, RunOptions, transcribe
from asr_core.runtimes import load_model
from asr_core.runtimes.eager import reference_transcribe
from helpers import SPEECH, needs_shared, speech_refs, stages_add_up, tone

def test_ctc_instrumented_equals_plain_forward_andstages_add_up(ctc):
    clips = [tone(1.0, 200), tone(2.5, 330, seed=1), tone(1.7, 440, seed=2)]
    r = transcribe(ctc, clips, ["a b", "c", "d e f"], RunOptions(batch_size=3))
    assert list(r.hypotheses) == reference_transcribe(ctc, clips)
    stages_add_up(r)
    assert r.family == "ctc" and r.n_clips == 3 and r.n_batches == 1
    assert r.audio_s == pytest.approx(5.2)
    assert r.rtf == pytest.approx(r.latency_s / r.audio_s)
    assert r.latency_per_utt_s == pytest.approx(r.latency_s / 3)
    assert r.throughput_audio_s_per_s == pytest.approx(r.audio_s / r.latency_s)
    assert 0 <= r.wer and not math.isnan(r.cer)  # random weights, real scoring
    assert r.encoder_flops_per_clip > 0 and r.total_flops > r.encoder_flops_per_clip
    assert r.energy_source != "unavailable" and r.energy_j > 0
    assert r.peak_rss_bytes > 0 and r.peak_gpu_allocated_bytes == 0


def test_ctc_batch_padding_does_not_change_a_transcript(ctc):
    short, long = tone(1.0, 200), tone(3.0, 500, seed=3)
    alone = transcribe(ctc, [short], None, RunOptions(batch_size=1)).hypotheses[0]
    padded = transcribe(ctc, [short, long], None, RunOptions(batch_size=2)).hypotheses[0]
    assert alone == padded


def test_whisper_instrumented_equals_plain_generate(tiny_whisper_dir):
    model = load_model(str(tiny_whisper_dir), "cpu", "fp32", "pretrained")
    clips = [tone(2.0, 300), tone(4.0, 600, seed=1)]
    r = transcribe(model, clips, None, RunOptions(batch_size=2))
    assert list(r.hypotheses) == reference_transcribe(model, clips)
    stages_add_up(r)
    alone = transcribe(model, clips[:1], None, RunOptions(batch_size=1, warmup=False, count_flops=False))
    assert alone.hypotheses[0] == r.hypotheses[0]
    assert math.isnan(r.wer)  # no reference given
    assert r.decoder_steps > 0 and r.decoder_flops_per_token > 0


def test_synthetic_whisper_forces_token_count_and_has_no_wer(synthetic):
    model = synthetic
    r = transcribe(model, [tone(3.0), tone(5.0, seed=1)], ["one two three", "four five"], RunOptions(batch_size=2, tokens=7))
    assert r.weights == "synthetic" and math.isnan(r.wer) and math.isnan(r.cer)
    assert r.decoder_steps == 2 * 7  # both rows decode exactly the forced count
    assert "weights=synthetic" in r.notes
    stages_add_up(r)


def test_synthetic_token_count_follows_reference_words(synthetic):
    model = synthetic
    r = transcribe(model, [tone(2.0)], ["ten words of reference text to be forced on decoders"],
                   RunOptions(warmup=False, count_flops=False))
    assert r.decoder_steps == round(10 * 1.3)
    assert "estimated" in r.notes


def test_a_cold_run_says_so_and_still_counts_flops(ctc):
    r = transcribe(ctc, [tone(1.0)], None, RunOptions(warmup=False))
    assert "no warm-up" in r.notes and r.total_flops > 0


def test_a_stopped_run_keeps_the_clips_that_finished(ctc, monkeypatch):
    from asr_core import measure
    stop, real = threading.Event(), measure.run_batch

    def one_then_stop(model, rows, batch, window=None, stop=None):
        out = real(model, rows, batch, window, stop)
        if window is not None:  # a measured batch, not the warm-up
            stop.set()
        return out
    monkeypatch.setattr(measure, "run_batch", one_then_stop)
    clips = [tone(1.0, 200), tone(1.2, 300, seed=1), tone(0.8, 400, seed=2), tone(1.1, 500, seed=3)]
    r = transcribe(ctc, clips, ["a", "b", "c", "d"], RunOptions(batch_size=1), control=RunControl(stop=stop))
    assert r.status == "cancelled" and r.n_clips == 1 and r.n_batches == 1
    assert r.audio_s == pytest.approx(1.0) and len(r.hypotheses) == 1 and r.references == ("a",)
    assert "stopped after 1 of 4 batches" in r.notes


def test_a_run_stopped_before_it_starts_reports_nothing(ctc):
    from asr_core import measure
    stop = threading.Event()
    stop.set()
    with pytest.raises(measure.Cancelled, match="nothing measured"):
        transcribe(ctc, [tone(1.0)], None, control=RunControl(stop=stop))


def test_progress_memory_load_and_the_measured_span_are_recorded(ctc):
    seen = []
    clips = [tone(1.0, 200), tone(1.2, 300, seed=1), tone(0.8, 400, seed=2), tone(1.1, 500, seed=3)]
    r = transcribe(ctc, clips, None, RunOptions(batch_size=2), control=RunControl(on_progress=seen.append))
    assert [(p.phase, p.done) for p in seen] == [("compiling", 0), ("warming up", 0), ("measuring", 0),
                                                 ("measuring", 1), ("measuring", 2)]
    assert seen[2].eta_s > 0 and seen[-1].eta_s == 0  # first from the warm-up batch, then from the pace
    assert r.model_bytes == ctc.params * 4  # fp32
    assert 0 < r.rss_before_bytes <= r.peak_rss_bytes
    assert 0 <= r.measured_from_s < r.measured_to_s
    assert r.measured_to_s - r.measured_from_s == pytest.approx(r.latency_s, abs=0.05)
    assert 0 <= r.cpu_others_during_pct <= 100 or math.isnan(r.cpu_others_during_pct)


def test_long_audio_is_cut_into_windows(synthetic):
    model = synthetic
    r = transcribe(model, [tone(45.0)], None, RunOptions(tokens=10, warmup=False, count_flops=False))
    assert "long-form" in r.notes and r.n_clips == 1
    assert r.n_batches == 2 and 9 <= r.decoder_steps <= 11  # 10 tokens shared by two windows by duration


@pytest.mark.slow
def test_synthetic_wav2vec2_runs():
    model = load_model("facebook/wav2vec2-base-960h", "cpu", "fp32", "synthetic")
    assert 90e6 < model.params < 100e6
    r = transcribe(model, [tone(1.0)], ["hello"], RunOptions(warmup=False, count_flops=False))
    assert math.isnan(r.wer) and r.status == "ok"


def test_out_of_memory_becomes_resource_error(ctc, monkeypatch):
    from asr_core.runtimes import eager

    def boom(self, inputs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(eager.EagerCTC, "encode", boom)
    with pytest.raises(ResourceError, match="smaller --batch-size"):
        transcribe(ctc, [tone(1.0)] * 4, None, RunOptions(batch_size=4))


@pytest.mark.slow
@needs_shared
def test_real_tiny_en_wer_on_real_speech():
    refs = speech_refs()
    ids = sorted(refs)
    clips = [load_audio(SPEECH / f"{i}.flac") for i in ids]
    model = load_model(str(SPEECH.parents[1] / "models" / "whisper-tiny.en"), "cpu", "fp32", "pretrained")
    r = transcribe(model, clips, [refs[i] for i in ids], RunOptions(batch_size=8, count_flops=False, warmup=False))
    assert r.wer <= 0.12, r.wer  # measured about 8.6 % on the 70-utterance set
    assert r.n_clips == 20 and r.n_batches == 3
    assert "frere" in r.hypotheses[0].lower() or "freer" in r.hypotheses[0].lower()


@pytest.mark.slow
@needs_shared
def test_real_tiny_en_long_form_over_30_seconds():
    refs = speech_refs()
    ids = sorted(refs)[10:17]
    audio = np.concatenate([load_audio(SPEECH / f"{i}.flac") for i in ids])
    assert audio.shape[0] / 16000 > 35
    model = load_model(str(SPEECH.parents[1] / "models" / "whisper-tiny.en"), "cpu", "fp32", "pretrained")
    r = transcribe(model, [audio], [" ".join(refs[i] for i in ids)], RunOptions(warmup=False, count_flops=False))
    assert "long-form" in r.notes and r.n_clips == 1
    assert r.wer <= 0.15, (r.wer, r.hypotheses)
