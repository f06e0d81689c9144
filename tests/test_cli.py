"""`asr-profile` on good and bad input: a clear message and exit code 2, never a traceback."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from asr_core.cli import main
from helpers import ROOT, tone


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, tone(1.5), 16000)
    return path


def _run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_record_for_a_ctc_model(capsys, tiny_ctc_dir, wav):
    code, out, _ = _run(capsys, "transcribe", str(wav), "--model", str(tiny_ctc_dir), "--device", "cpu", "--json",
                        "--reference", "hello world")
    assert code == 0
    rec = json.loads(out)
    assert rec["family"] == "ctc" and rec["weights"] == "pretrained" and rec["n_clips"] == 1
    assert rec["energy_source"] in ("rapl", "estimate") and rec["cpu_energy_source"] == rec["energy_source"]
    assert isinstance(rec["power_trace"], list) and {"latency_s", "rtf", "encoder_flops_per_clip", "wer"} <= rec.keys()


def test_report_for_synthetic_whisper_batch_repeats_the_clip(capsys, wav):
    code, out, _ = _run(capsys, "transcribe", str(wav), "--model", "openai/whisper-tiny", "--weights", "synthetic",
                        "--tokens", "5", "--batch-size", "2", "--device", "cpu", "--no-flops")
    assert code == 0
    assert "weights=synthetic" in out and "batch 2" in out and "clips: 2" in out
    assert "WER: n/a" in out and ("[estimate]" in out or "[rapl]" in out)


def test_stereo_44k_is_converted(capsys, tiny_ctc_dir, tmp_path):
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([tone(1.0), tone(1.0, 330)], axis=1)[::1], 44100)
    code, out, _ = _run(capsys, "transcribe", str(path), "--model", str(tiny_ctc_dir), "--json", "--no-flops")
    assert code == 0 and json.loads(out)["audio_s"] == pytest.approx(16000 / 44100, rel=0.01)


@pytest.fixture(scope="module")
def blank_ctc_dir(tiny_ctc_dir, tmp_path_factory):
    """The tiny CTC model biased so the blank (<pad>, id 0) wins every frame: its transcript is always
    empty. The random model alone says a letter or two on silence, which would leave the WER untested."""
    import torch
    from transformers import Wav2Vec2ForCTC
    d = tmp_path_factory.mktemp("blank-w2v2")
    shutil.copytree(tiny_ctc_dir, d, dirs_exist_ok=True)
    model = Wav2Vec2ForCTC.from_pretrained(tiny_ctc_dir)
    with torch.no_grad():
        model.lm_head.bias[0] = 1e4
    model.save_pretrained(d)
    return d


def test_silence_gives_empty_transcript_and_full_wer(capsys, blank_ctc_dir, tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(16000, dtype=np.float32), 16000)
    code, out, _ = _run(capsys, "transcribe", str(path), "--model", str(blank_ctc_dir), "--json", "--no-flops",
                        "--reference", "something was said")
    rec = json.loads(out)
    assert code == 0 and rec["hypotheses"] == [""]
    # a reference was given: WER and CER must be there, and nothing said scores every word/char wrong
    assert rec["wer"] == 1.0 and rec["cer"] == 1.0


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("empty", "empty"),
    ("corrupt", "Could not decode"),
    ("text", "Could not decode"),
])
def test_bad_audio_files(capsys, tmp_path, case, message):
    path = tmp_path / f"{case}.wav"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "corrupt":
        path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 10)
    elif case == "text":
        path.write_text("this is not audio at all\n" * 20)
    code, _, err = _run(capsys, "transcribe", str(path), "--model", "openai/whisper-tiny", "--weights", "synthetic")
    assert code == 2 and message in err and path.name in err and "Traceback" not in err


def test_too_long_audio(capsys, tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(16000 * 20, dtype=np.float32), 16000)
    code, _, err = _run(capsys, "transcribe", str(path), "--max-duration", "10", "--weights", "synthetic")
    assert code == 2 and "limit" in err


def test_cuda_without_gpu(capsys, wav):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = _run(capsys, "transcribe", str(wav), "--device", "cuda", "--weights", "synthetic")
    assert code == 2 and "no CUDA GPU" in err


def test_fp16_on_cpu_is_refused(capsys, wav):
    code, _, err = _run(capsys, "transcribe", str(wav), "--device", "cpu", "--precision", "fp16",
                        "--weights", "synthetic")
    assert code == 2 and "fp16" in err


def test_unknown_model(capsys, wav):
    code, _, err = _run(capsys, "transcribe", str(wav), "--model", "acme/speechify-9000")
    assert code == 2 and "Unknown model 'acme/speechify-9000'" in err


def test_unreachable_hub_model(capsys, wav, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = _run(capsys, "transcribe", str(wav), "--model", "openai/whisper-base")
    assert code == 2 and "Could not load 'openai/whisper-base'" in err and "synthetic" in err


def test_out_of_memory_suggests_smaller_batch(capsys, wav, monkeypatch, tiny_ctc_dir):
    import torch
    from asr_core.runtimes import eager

    def boom(self, inputs):
        raise torch.OutOfMemoryError("CUDA out of memory")
    monkeypatch.setattr(eager.CTCStages, "encode", boom)
    code, _, err = _run(capsys, "transcribe", str(wav), "--model", str(tiny_ctc_dir), "--batch-size", "32")
    assert code == 2 and "batch size 32" in err and "smaller --batch-size" in err


def test_module_entry_point_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "asr_core", "transcribe", str(tmp_path / "nope.wav")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_models_lists_registry(capsys):
    code, out, _ = _run(capsys, "models")
    assert code == 0 and "openai/whisper-large-v3-turbo" in out and "facebook/wav2vec2-base-960h" in out


def test_sweep_with_unreadable_clip_source(capsys, tmp_path):
    code, _, err = _run(capsys, "sweep", "--clips", str(tmp_path / "no-such-folder"), "--out",
                        str(tmp_path / "s.parquet"), "--weights", "synthetic")
    assert code == 2 and "no-such-folder" in err
