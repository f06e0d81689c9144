"""whisper.cpp and openai-whisper: our converter and weight mapping, the same transcripts as transformers,
forced token counts for synthetic weights, honest stages, and clear refusals."""
from __future__ import annotations

import math
import struct
import subprocess
import sys

import numpy as np
import pytest

from asr_core import capabilities, models, sweep
from asr_core.errors import ModelError
from asr_core.measure import RunOptions, transcribe
from asr_core.runtimes import ggml, load_model
from asr_core.runtimes.layout import openai_name
from helpers import ROOT, TINY_EN, needs_shared, stages_add_up, tone

pytest.importorskip("_pywhispercpp", reason="pywhispercpp is not installed (pip install pywhispercpp)")
pytest.importorskip("whisper", reason="openai-whisper is not installed (pip install openai-whisper)")
WER_POINTS = 0.01  # each engine within 1 WER point of transformers fp32


@pytest.fixture(scope="module", autouse=True)
def ggml_cache(tmp_path_factory):
    """A private conversion cache, so the tests convert for real and leave the user's cache alone."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ASR_GGML_CACHE", str(tmp_path_factory.mktemp("ggml")))
    yield
    mp.undo()


# --- quantisation: ggml's reference code, element by element ------------------------------------------------


def _q8_0_reference(x: np.ndarray) -> bytes:
    """quantize_row_q8_0_ref transcribed loop for loop."""
    out = b""
    for block in x.reshape(-1, 32):
        d = float(np.abs(block).max()) / 127
        inv = 1 / d if d else 0.0
        q = [int(math.copysign(math.floor(abs(v * inv) + 0.5), v * inv)) for v in block.astype(np.float32)]
        out += np.float16(d).tobytes() + struct.pack("32b", *q)
    return out


def _q5_1_reference(x: np.ndarray) -> bytes:
    """quantize_row_q5_1_ref transcribed loop for loop."""
    out = b""
    for block in x.reshape(-1, 32).astype(np.float32):
        lo, hi = float(block.min()), float(block.max())
        d = (hi - lo) / 31
        inv = 1 / d if d else 0.0
        qh, qs = 0, []
        for j in range(16):
            x0, x1 = int((block[j] - lo) * inv + 0.5), int((block[16 + j] - lo) * inv + 0.5)
            qs.append((x0 & 0x0F) | ((x1 & 0x0F) << 4))
            qh |= ((x0 & 0x10) >> 4) << j
            qh |= ((x1 & 0x10) >> 4) << (j + 16)
        out += np.float16(d).tobytes() + np.float16(lo).tobytes() + struct.pack("<I", qh) + bytes(qs)
    return out


@pytest.mark.parametrize("kind,reference,size", [(8, _q8_0_reference, 34), (7, _q5_1_reference, 24)])
def test_quantisation_matches_ggmls_reference_code(kind, reference, size):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 64)).astype(np.float32)
    x[0, :32] = 0.0  # an all-zero block: scale 0, no division by zero
    x[1, 3] = 127 / 2 * (np.abs(x[1, :32]).max() / 127) * 2  # values on the rounding boundary stay exact
    raw = ggml.quantize(x, kind)
    assert raw == reference(x) and len(raw) == x.size // 32 * size == ggml.tensor_bytes(x.size, kind)
    back = ggml.dequantize(raw, kind, x.shape)
    steps = (np.abs(x).reshape(-1, 32).max(1) / 127 if kind == 8 else np.ptp(x.reshape(-1, 32), 1) / 31)
    assert (np.abs(back - x).reshape(-1, 32).max(1) <= steps / 2 + 2e-3 * np.abs(x).reshape(-1, 32).max(1)).all()


def test_openai_names_cover_every_tensor_once():
    from transformers import WhisperConfig, WhisperForConditionalGeneration
    cfg = WhisperConfig(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=100, pad_token_id=0,
                        max_source_positions=8, max_target_positions=8)
    names = [openai_name(n) for n in WhisperForConditionalGeneration(cfg).model.state_dict()]
    assert len(names) == len(set(names))
    assert {"encoder.blocks.1.attn.key.weight", "decoder.blocks.0.cross_attn.value.bias", "decoder.ln.weight",
            "encoder.positional_embedding", "decoder.token_embedding.weight", "encoder.conv2.bias"} <= set(names)
    with pytest.raises(KeyError):
        openai_name("encoder.layers.0.unknown.weight")


# --- the file whisper.cpp reads ------------------------------------------------------------------------------


@pytest.mark.slow
def test_converted_file_has_whisper_cpps_header_and_types(tmp_path):
    from asr_core.checkpoints import load_torch_model
    checkpoint = load_torch_model("openai/whisper-tiny", "whisper", "cpu", "fp32", "synthetic")
    path = ggml.write_ggml(checkpoint, tmp_path / "m.bin", "q8_0")
    raw = path.read_bytes()
    head = struct.unpack("<12i", raw[:48])
    assert head == (0x67676D6C, 51865, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 2007)
    n_mel, n_fft = struct.unpack("<2i", raw[48:56])
    assert (n_mel, n_fft) == (80, 201)
    assert not list(tmp_path.glob("*.part"))  # written atomically


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asr_core", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


# --- synthetic weights: the forced count, in every window, through both engines ----------------------------


@pytest.mark.parametrize("runtime,precision", [("whisper.cpp", "fp16"), ("whisper.cpp", "q5_1"),
                                               ("openai-whisper", "fp32")])
@pytest.mark.slow
def test_synthetic_decodes_exactly_the_forced_count(runtime, precision):
    model = load_model("openai/whisper-tiny", "cpu", precision, "synthetic", runtime=runtime)
    assert model.runtime == runtime and 37e6 < model.params < 39e6  # the architecture, kept on the meta device
    clips = [tone(3.0), tone(5.0, seed=1), tone(35.0, seed=2)]  # the last one is two windows
    r = transcribe(model, clips, None, RunOptions(tokens=20, count_flops=runtime != "whisper.cpp"))
    assert r.decoder_steps == 3 * 20 and r.n_batches == 4  # 35 s: its two windows share its 20 tokens
    assert r.hypotheses == ("", "", "") and math.isnan(r.wer) and r.weights == "synthetic"
    stages_add_up(r)
    one = transcribe(model, clips[:1], None, RunOptions(tokens=1, warmup=False, count_flops=False))
    assert one.decoder_steps == (2 if runtime == "whisper.cpp" else 1)  # whisper.cpp ends a window at 2 or more
    if runtime == "whisper.cpp":
        assert math.isnan(r.total_flops) and "whisper.cpp's own timers" in r.notes
        assert r.model_bytes == round(model.params * models.BYTES_PER_PARAM[precision])
    else:
        assert r.total_flops > 0 and r.encoder_flops_per_clip > 0


# --- real tiny.en: the same words as transformers -----------------------------------------------------------


@pytest.mark.slow
@needs_shared
def test_real_tiny_en_through_each_engine_matches_transformers_wer(speech):
    clips, refs = speech
    opts = RunOptions(count_flops=False)
    eager = transcribe(load_model(str(TINY_EN), "cpu", "fp32"), clips, refs, opts)
    for runtime, precision in [("openai-whisper", "fp32"), ("whisper.cpp", "fp16"), ("whisper.cpp", "q8_0"),
                               ("whisper.cpp", "q5_1")]:
        r = transcribe(load_model(str(TINY_EN), "cpu", precision, runtime=runtime), clips, refs, opts)
        assert r.runtime == runtime and r.precision == precision and r.n_clips == 20
        assert abs(r.wer - eager.wer) <= WER_POINTS, (runtime, precision, r.wer, eager.wer)
        assert "frere" in r.hypotheses[0].lower() or "freer" in r.hypotheses[0].lower()
        # the same decoder steps as transformers counts (tokens plus end-of-text), give or take a word
        assert abs(r.decoder_steps - eager.decoder_steps) <= 0.05 * eager.decoder_steps
        stages_add_up(r)


# --- refusals, before anything loads --------------------------------------------------------------------------


@pytest.mark.parametrize("model,runtime,precision,device,why", [
    ("facebook/wav2vec2-base-960h", "whisper.cpp", "fp16", "cpu", "runs Whisper only"),
    ("facebook/wav2vec2-base-960h", "openai-whisper", "fp32", "cpu", "runs Whisper only"),
    ("openai/whisper-tiny", "whisper.cpp", "fp32", "cpu", "f16 or ggml-quantised"),
    ("openai/whisper-tiny", "whisper.cpp", "int8", "cpu", "ctranslate2 runtime only"),
    ("openai/whisper-tiny", "transformers", "q8_0", "cpu", "whisper.cpp runtime only"),
    ("openai/whisper-tiny", "openai-whisper", "bf16", "cpu", "fp32 and fp16 only"),
    ("openai/whisper-tiny", "ctranslate2", "q5_1", "cpu", "whisper.cpp runtime only"),
])
def test_unsupported_combinations_are_refused_with_the_reason(model, runtime, precision, device, why):
    with pytest.raises(ModelError, match=why):
        load_model(model, device, precision, "synthetic", runtime=runtime)


def test_whisper_cpp_on_a_gpu_is_refused():
    assert "CPUs only" in capabilities.precision_problem("cuda", "fp16", "whisper.cpp")


@pytest.mark.slow
def test_cli_refuses_whisper_cpp_batches_and_fp32_in_one_sentence(tmp_path):
    import soundfile as sf
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(1.0), 16000)
    batch = _run(["transcribe", str(wav), "--model", "openai/whisper-tiny", "--weights", "synthetic",
                  "--runtime", "whisper.cpp", "--precision", "fp16", "--batch-size", "4"])
    assert batch.returncode == 2 and "one clip at a time" in batch.stderr and "Traceback" not in batch.stderr
    fp32 = _run(["transcribe", str(wav), "--model", "openai/whisper-tiny", "--weights", "synthetic",
                 "--runtime", "whisper.cpp"])
    assert fp32.returncode == 2 and "f16 or ggml-quantised" in fp32.stderr and "Traceback" not in fp32.stderr


def test_sweep_leaves_out_what_whisper_cpp_cannot_run_and_says_why():
    grid = sweep.Grid(models=("openai/whisper-tiny",), weights=("synthetic",), runtimes=("whisper.cpp",),
                      precisions=("fp32", "q8_0"), batch_sizes=(1, 8), buckets=("5s",))
    cells = grid.cells()
    assert {(c["precision"], c["batch_size"]) for c in cells} == {("q8_0", 1)}
    said = " ".join(grid.skipped())
    assert "f16 or ggml-quantised" in said and "one clip at a time" in said


@pytest.mark.slow
def test_a_damaged_converted_file_is_one_sentence_not_a_crash():
    from asr_core.runtimes.engine_files import record_file
    from asr_core.runtimes.whispercpp import ggml_path
    path = ggml_path("openai/whisper-tiny", "synthetic", "q5_1")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a model")
    record_file(path, path)  # recorded as it is: what the size and checksum cannot catch, the header check does
    with pytest.raises(ModelError, match="whisper.cpp file .* is damaged .it lacks whisper.cpp's header.: delete it"):
        load_model("openai/whisper-tiny", "cpu", "q5_1", "synthetic", runtime="whisper.cpp")
    path.unlink()
