"""The optimised runtimes: same transcripts as eager transformers, honest stage times, clear refusals."""
from __future__ import annotations

import math

import pytest

from asr_core import capabilities
from asr_core.errors import ModelError
from asr_core.measure import RunOptions, transcribe
from asr_core.runtimes import load_model
from asr_core.runtimes.eager import reference_transcribe
from helpers import TINY_EN, needs_shared, stages_add_up, tone

ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 is not installed (pip install ctranslate2)")
WER_POINTS = 0.01  # each runtime within 1 WER point of transformers fp32


@pytest.fixture(scope="module")
def ct2_cache(tmp_path_factory):
    """A private conversion cache, so the test converts for real and leaves the user's cache alone."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ASR_CT2_CACHE", str(tmp_path_factory.mktemp("ct2")))
    yield
    mp.undo()


@pytest.mark.slow
@needs_shared
def test_ctranslate2_on_real_speech_matches_transformers_wer(ct2_cache, speech):
    clips, refs = speech
    opts = RunOptions(batch_size=8, count_flops=False)
    eager = transcribe(load_model(str(TINY_EN), "cpu", "fp32"), clips, refs, opts)
    for precision in ("fp32", "int8"):
        r = transcribe(load_model(str(TINY_EN), "cpu", precision, runtime="ctranslate2"), clips, refs, opts)
        assert r.runtime == "ctranslate2" and r.precision == precision
        assert abs(r.wer - eager.wer) <= WER_POINTS, (precision, r.wer, eager.wer)
        assert r.n_clips == 20 and r.n_batches == 3 and r.decoder_steps > 20 * 5
        assert "frere" in r.hypotheses[0].lower() or "freer" in r.hypotheses[0].lower()
        stages_add_up(r)
        assert math.isnan(r.total_flops) and "FLOPs not counted" in r.notes and r.compile_s == 0.0


@pytest.mark.slow
def test_ctranslate2_synthetic_forces_the_token_count(ct2_cache):
    model = load_model("openai/whisper-tiny", "cpu", "int8", "synthetic", runtime="ctranslate2")
    assert model.runtime == "ctranslate2" and 37e6 < model.params < 39e6  # the architecture, kept on the meta device
    clips = [tone(3.0), tone(5.0, seed=1), tone(2.0, seed=2)]
    r = transcribe(model, clips, None, RunOptions(batch_size=2, tokens=9))
    assert r.decoder_steps == 3 * 9 and r.n_batches == 2
    assert r.hypotheses == ("", "", "") and math.isnan(r.wer)
    one = transcribe(model, clips[:1], None, RunOptions(tokens=1, warmup=False, count_flops=False))
    assert one.decoder_steps == 1


@pytest.mark.slow
def test_transformers_compiled_gives_the_eager_transcript_and_reports_compile_time(tiny_whisper_dir):
    eager = load_model(str(tiny_whisper_dir), "cpu", "fp32")
    model = load_model(str(tiny_whisper_dir), "cpu", "fp32", runtime="transformers-compiled")
    clips = [tone(2.0, 300), tone(4.0, 600, seed=1)]
    r = transcribe(model, clips, None, RunOptions(batch_size=2))
    assert r.runtime == "transformers-compiled" and r.compile_s > 0
    assert list(r.hypotheses) == reference_transcribe(eager, clips)
    assert r.decoder_flops_per_token > 0  # counted on the eager twin
    stages_add_up(r)
    again = transcribe(model, clips, None, RunOptions(batch_size=2, warmup=False, count_flops=False))
    assert again.compile_s == 0.0 and again.hypotheses == r.hypotheses  # compiled for this batch size already


@pytest.mark.slow
def test_transformers_compiled_ctc_matches_eager(tiny_ctc_dir):
    clips = [tone(1.0, 200), tone(2.5, 330, seed=1), tone(1.7, 440, seed=2)]
    eager = transcribe(load_model(str(tiny_ctc_dir), "cpu", "fp32"), clips, None, RunOptions(batch_size=3))
    r = transcribe(load_model(str(tiny_ctc_dir), "cpu", "fp32", runtime="transformers-compiled"), clips, None,
                   RunOptions(batch_size=3))
    assert r.hypotheses == eager.hypotheses and r.compile_s > 0
    assert r.encoder_flops_per_clip == pytest.approx(eager.encoder_flops_per_clip)


@pytest.mark.parametrize("model, precision, runtime, message", [
    ("facebook/wav2vec2-base-960h", "fp32", "ctranslate2", "Whisper only"),
    ("openai/whisper-tiny", "int8", "transformers", "ctranslate2 runtime only"),
    ("openai/whisper-tiny", "int8_fp16", "transformers-compiled", "ctranslate2 runtime only"),
    ("openai/whisper-tiny", "fp16", "ctranslate2", "computes in .* not fp16"),  # CPU CTranslate2 has no fp16
    ("openai/whisper-tiny", "fp32", "onnx", "Unknown runtime 'onnx'"),
])
def test_unsupported_combinations_are_refused_with_the_reason(model, precision, runtime, message):
    with pytest.raises(ModelError, match=message):
        load_model(model, "cpu", precision, "synthetic", runtime=runtime)


def test_missing_ctranslate2_says_how_to_install_it(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_ct2(name, *args, **kwargs):
        if name == "ctranslate2":
            raise ImportError("No module named 'ctranslate2'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_ct2)
    with pytest.raises(ModelError, match="pip install ctranslate2"):
        load_model("openai/whisper-tiny", "cpu", "fp32", "synthetic", runtime="ctranslate2")
    assert capabilities.runtime_problem("whisper", "transformers-compiled") is None
