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
from asr_core.errors import ModelError
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


def test_report_for_synthetic_whisper_batch_repeats_the_clip(capsys, wav, synthetic_whisper_dir):
    code, out, _ = _run(capsys, "transcribe", str(wav), "--model", str(synthetic_whisper_dir), "--weights", "synthetic",
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
    monkeypatch.setattr(eager.EagerCTC, "encode", boom)
    code, _, err = _run(capsys, "transcribe", str(wav), "--model", str(tiny_ctc_dir), "--batch-size", "32")
    assert code == 2 and "batch size 32" in err and "smaller --batch-size" in err


@pytest.mark.slow
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


# --- bad options and inputs: refused in one sentence, before the model loads where they can be -------------------


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if the command gets as far as loading a model."""
    from asr_core import cli

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr(cli, "load_model", refuse)


@pytest.mark.slow
def test_corrupt_audio_is_exactly_one_line_on_stderr(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 10)
    proc = subprocess.run([sys.executable, "-m", "asr_core", "transcribe", str(path), "--weights", "synthetic"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"error: Could not decode '{path}' as audio (NoBackendError): use WAV, FLAC, "
                                        f"MP3 or OGG (M4A needs ffmpeg installed)."]


@pytest.mark.parametrize("flags, message", [
    (["--co2e", "XXX"], "--co2e 'XXX' is not a country CodeCarbon has grid data for: use an ISO 3166 alpha-3 code "
                        "such as USA or FRA."),
    (["--batch-size", "0"], "--batch-size must be at least 1, not 0."),
    (["--max-duration", "0"], "--max-duration must be a positive number of seconds, not 0."),
    (["--max-duration", "-5"], "--max-duration must be a positive number of seconds, not -5."),
    (["--tokens", "0"], "--tokens must be at least 1, not 0."),
    (["--tokens", "5", "--weights", "pretrained"],
     "--tokens only applies to synthetic Whisper (pretrained weights decode until the model stops): add --weights "
     "synthetic, or leave out --tokens."),
])
def test_bad_options_are_refused_before_the_model_loads(capsys, wav, no_model_load, flags, message):
    code, out, err = _run(capsys, "transcribe", str(wav), "--weights", "synthetic", *flags)
    assert (code, out, err) == (2, "", f"error: {message}\n")


def test_tokens_with_a_ctc_model(capsys, wav, tiny_ctc_dir, no_model_load):
    code, _, err = _run(capsys, "transcribe", str(wav), "--model", str(tiny_ctc_dir), "--weights", "synthetic",
                        "--tokens", "5")
    assert code == 2 and err == (f"error: --tokens only applies to synthetic Whisper, and {tiny_ctc_dir} is a CTC "
                                 f"model with no decoder to force: leave out --tokens.\n")


def test_co2e_without_codecarbon_data(capsys, wav, no_model_load, monkeypatch):
    from asr_core import carbon
    monkeypatch.setattr(carbon, "_energy_mix", lambda: None)
    code, _, err = _run(capsys, "transcribe", str(wav), "--weights", "synthetic", "--co2e", "USA")
    assert code == 2 and err == ("error: --co2e cannot be computed here because CodeCarbon's grid data cannot be "
                                 "read: install codecarbon, or leave out --co2e.\n")


def test_more_tokens_than_the_decoder_can_emit(capsys, wav, monkeypatch, synthetic_whisper_dir):
    from asr_core import runs
    monkeypatch.setattr(runs, "transcribe", lambda *a, **k: pytest.fail("transcribed"))
    code, _, err = _run(capsys, "transcribe", str(wav), "--model", str(synthetic_whisper_dir), "--weights", "synthetic",
                        "--device", "cpu", "--tokens", "445")
    # 448 decoder positions less the 4-token multilingual prompt
    assert code == 2 and err == (f"error: --tokens 445 is more than the decoder of {synthetic_whisper_dir} can emit for "
                                 f"these clips (444 new tokens per 30-second window): use --tokens 444 or fewer.\n")


def test_a_long_clip_shares_its_tokens_among_its_windows(synthetic_whisper_dir):
    from asr_core.audio import split_long
    from asr_core.runs import check_tokens as _check_token_limit

    from asr_core.runtimes import load_model
    model = load_model(str(synthetic_whisper_dir), "cpu", "fp32", "synthetic")
    clip = tone(70.0)
    longest = max(p.shape[0] for p in split_long(clip, 30.0))
    most = 444 * clip.shape[0] // longest
    assert most > 2 * 444
    _check_token_limit(model, [clip], most)
    _check_token_limit(model, [clip, tone(5.0)], 444)
    with pytest.raises(ModelError, match=f"use --tokens {most} or fewer"):
        _check_token_limit(model, [clip], most + 1)
    with pytest.raises(ModelError, match="use --tokens 444 or fewer"):
        _check_token_limit(model, [clip, tone(5.0)], 445)


def test_a_bad_model_folder_config(capsys, wav, tmp_path):
    folder = tmp_path / "broken-model"
    folder.mkdir()
    (folder / "config.json").write_text("[]")
    code, _, err = _run(capsys, "transcribe", str(wav), "--model", str(folder))
    assert code == 2 and err.startswith(f"error: {folder}/config.json holds a JSON list, not an object: ")


def test_a_corrupt_model_folder(capsys, wav, tiny_ctc_dir, tmp_path):
    folder = tmp_path / "corrupt-model"
    shutil.copytree(tiny_ctc_dir, folder)
    (folder / "model.safetensors").write_bytes(b"\x01" * 64)
    code, _, err = _run(capsys, "transcribe", str(wav), "--model", str(folder), "--device", "cpu")
    assert code == 2 and err.startswith(f"error: Could not read the weights of '{folder}' (")
    assert err.count("\n") == 1


def test_a_reference_file_that_is_not_utf8(capsys, wav, tmp_path, no_model_load):
    ref = tmp_path / "ref.txt"
    ref.write_bytes("café au lait".encode("latin-1"))
    code, _, err = _run(capsys, "transcribe", str(wav), "--reference-file", str(ref))
    assert code == 2 and err == f"error: Reference file '{ref}' is not UTF-8 text: save it as UTF-8.\n"


def test_an_unreadable_reference_file(capsys, wav, tmp_path, no_model_load, monkeypatch):
    from pathlib import Path
    ref = tmp_path / "ref.txt"
    ref.write_text("hello")
    read_bytes = Path.read_bytes

    def locked(self, *args, **kwargs):
        if self == ref:
            raise PermissionError(13, "Permission denied")
        return read_bytes(self, *args, **kwargs)
    monkeypatch.setattr(Path, "read_bytes", locked)
    code, _, err = _run(capsys, "transcribe", str(wav), "--reference-file", str(ref))
    assert code == 2 and err == (f"error: Could not read reference file '{ref}' (Permission denied): check the path "
                                 f"and that the file is readable.\n")


def test_an_unreadable_audio_file(capsys, wav, no_model_load, monkeypatch):
    from pathlib import Path

    def locked(self):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "read_bytes", locked)
    code, _, err = _run(capsys, "transcribe", str(wav))
    assert code == 2 and err == (f"error: Could not read audio file '{wav}' (Permission denied): check that it is "
                                 f"readable.\n")


# --- prefetch -------------------------------------------------------------------------------------------------------


@pytest.fixture
def clip_folder(tmp_path):
    """A local clip source: two tone files and a manifest, so no network is needed."""
    folder = tmp_path / "calls"
    folder.mkdir()
    for name, seconds in {"a.wav": 2.0, "b.wav": 3.0}.items():
        sf.write(folder / name, tone(seconds), 16000)
    (folder / "manifest.csv").write_text("path,text,recording\na.wav,alpha,r1\nb.wav,beta,r1\n")
    return folder


def test_prefetch_builds_clips_first_and_reports_each_model_that_fails(capsys, clip_folder, tmp_path, monkeypatch):
    from asr_core import checkpoints
    monkeypatch.setattr(checkpoints, "_hub_reachable", lambda endpoint: False)
    cache = tmp_path / "cache"
    code, out, err = _run(capsys, "prefetch", "--clips", str(clip_folder), "--cache-dir", str(cache),
                          "--models", "acme/speechify-9000,someone/not-cached-whisper")
    assert code == 2 and (cache / "manifest.jsonl").is_file()
    assert out.splitlines() == [f"2 clips cached in {cache}", "fetching acme/speechify-9000 ...",
                                "fetching someone/not-cached-whisper ..."]
    lines = err.splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)
    assert lines[0].startswith("error: Unknown model 'acme/speechify-9000'")
    assert lines[1].startswith("error: Could not load 'someone/not-cached-whisper'") and "prefetch" not in lines[1]
    assert lines[2] == ("error: Could not prefetch acme/speechify-9000, someone/not-cached-whisper: fix what the "
                        "errors above say, then run `asr-profile prefetch` again.")


def test_prefetch_with_no_models_builds_only_the_clips(capsys, clip_folder, tmp_path, no_model_load):
    code, out, err = _run(capsys, "prefetch", "--clips", str(clip_folder), "--cache-dir", str(tmp_path / "cache"),
                          "--models", "")
    assert (code, out, err) == (0, f"2 clips cached in {tmp_path / 'cache'}\n", "")


# --- noise: --snr and --noise ------------------------------------------------------------------------------

def test_snr_mixes_noise_and_records_it(capsys, tiny_ctc_dir, wav):
    code, out, _ = _run(capsys, "transcribe", str(wav), "--model", str(tiny_ctc_dir), "--device", "cpu", "--json",
                        "--no-flops", "--snr", "5", "--noise", "white")
    assert code == 0
    rec = json.loads(out)
    assert rec["snr_db"] == 5 and rec["noise"] == "white"


def test_without_snr_the_record_says_clean(capsys, tiny_ctc_dir, wav):
    code, out, _ = _run(capsys, "transcribe", str(wav), "--model", str(tiny_ctc_dir), "--device", "cpu", "--json",
                        "--no-flops")
    assert code == 0
    rec = json.loads(out)
    assert rec["snr_db"] == float("inf") and rec["noise"] == ""


def test_noisy_clips_are_what_the_cli_transcribes(capsys, monkeypatch, wav, tmp_path, tiny_ctc_dir):
    from asr_core import audio, runs
    seen, real = [], runs.transcribe
    monkeypatch.setattr(runs, "transcribe", lambda model, clips, *a, **k: seen.append(clips) or real(model, clips, *a, **k))
    other = tmp_path / "other.wav"
    sf.write(other, tone(1.5, 400, seed=2), 16000)
    code, out, _ = _run(capsys, "transcribe", str(wav), str(other), "--model", str(tiny_ctc_dir), "--snr", "0",
                        "--noise", "babble", "--json", "--no-flops")
    assert code == 0 and (json.loads(out)["snr_db"], json.loads(out)["noise"]) == (0, "babble")
    clean = [audio.load_audio(wav), audio.load_audio(other)]
    assert all(np.array_equal(a, b) for a, b in zip(seen[0], runs.mixed(clean, 0.0, "babble")))
    assert not any(np.array_equal(a, b) for a, b in zip(seen[0], clean))


@pytest.mark.parametrize("args, message", [
    (["--snr", "10", "--noise", "babble"], "error: Babble noise is made of the other input files, so --noise babble "
                                           "needs at least 2 input files: add more, or use --noise white.\n"),
    (["--snr", "nan"], "error: --snr must be a number of dB or inf (no noise), not nan.\n"),
])
def test_noise_options_that_cannot_work_exit_2(capsys, wav, args, message):
    code, _, err = _run(capsys, "transcribe", str(wav), *args)
    assert code == 2 and err == message


def test_sweep_flags_set_the_snr_axis_and_the_noise(monkeypatch, tmp_path):
    from asr_core import cli, sweep
    grids = []
    monkeypatch.setattr(sweep, "run_sweep", lambda grid, *a, **k: grids.append(grid) or (_ for _ in ()).throw(
        SystemExit(0)))
    with pytest.raises(SystemExit):
        main(["sweep", "--snrs", "inf,10,0", "--noise", "babble", "--out", str(tmp_path / "s.parquet")])
    assert grids[0].snrs == (float("inf"), 10.0, 0.0) and grids[0].noise == "babble"


# --- reliability round 3 (issue 22): every case one sentence, exit 2 ----------------------------------------

LONG = "x" * 300  # longer than any file or folder name may be


@pytest.mark.parametrize("model", [LONG, f"openai/whisper-{LONG}", f"/tmp/whisper-{LONG}"])
def test_a_model_name_too_long_for_a_file_is_one_sentence(capsys, wav, model):
    code, _, err = _run(capsys, "transcribe", str(wav), "--model", model)
    assert code == 2 and err.startswith("error: That model name (") and "Traceback" not in err


def test_a_reference_file_name_too_long_or_a_folder_is_one_sentence(capsys, wav, tmp_path, no_model_load):
    long = tmp_path / LONG
    code, _, err = _run(capsys, "transcribe", str(wav), "--reference-file", str(long))
    assert code == 2 and err == (f"error: Could not read reference file '{long}' (File name too long): check the path "
                                 f"and that the file is readable.\n")
    code, _, err = _run(capsys, "transcribe", str(wav), "--reference-file", str(tmp_path))
    assert code == 2 and err == (f"error: Reference file '{tmp_path}' is a folder, not a text file: name the file "
                                 f"itself.\n")


def test_a_sweep_config_that_is_a_folder_or_too_long_is_one_sentence(capsys, tmp_path, no_model_load):
    code, _, err = _run(capsys, "sweep", "--config", str(tmp_path), "--out", str(tmp_path / "s.parquet"))
    assert code == 2 and err == f"error: Grid file {tmp_path} is a folder: give --config the grid's TOML file.\n"
    code, _, err = _run(capsys, "sweep", "--config", str(tmp_path / LONG), "--out", str(tmp_path / "s.parquet"))
    assert code == 2 and err.startswith("error: Could not read grid file ") and "(File name too long)" in err
    assert not (tmp_path / "s.parquet").exists()


@pytest.mark.parametrize("flags, message", [
    (["--out", "{tmp}/t.txt"], "--out {tmp}/t.txt ends in neither .parquet nor .csv: a sweep file is written in the "
                               "format its suffix names, so end the name in .parquet or .csv."),
    (["--out", "{tmp}/s.parquet", "--csv", "{tmp}/s.parquet"], "--csv {tmp}/s.parquet does not end in .csv: name the "
                                                               "CSV copy *.csv."),
    (["--out", "{tmp}/s.parquet", "--runtimes", "whisper.cpp", "--precisions", "fp32"],
     "Every cell of this grid is left out (openai/whisper-tiny fp32 whisper.cpp: the whisper.cpp runtime runs fp16, "
     "q8_0, q5_1, not fp32: whisper.cpp's model files are f16 or ggml-quantised (its CPU convolution takes f16 "
     "kernels only; an f32 file aborts it); whisper.cpp batch 4: whisper.cpp transcribes one clip at a time (its "
     "Python binding has one decoding state per model): use batch size 1), so nothing runs and {tmp}/s.parquet is "
     "not written: change the models, precisions, runtimes or batch sizes."),
])
def test_sweep_outputs_that_cannot_be_what_they_say_are_refused(capsys, tmp_path, no_model_load, flags, message):
    args = [f.format(tmp=tmp_path) for f in flags]
    code, out, err = _run(capsys, "sweep", "--clips", str(tmp_path), "--weights", "synthetic", "--batch-sizes", "4",
                          *args)
    assert code == 2 and err == "error: " + message.format(tmp=tmp_path) + "\n" and "rows in" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written


def test_a_clip_of_one_sample_is_refused(capsys, tmp_path, no_model_load):
    path = tmp_path / "one.wav"
    sf.write(path, np.full(1, 0.5, dtype=np.float32), 16000)
    code, _, err = _run(capsys, "transcribe", str(path))
    assert code == 2 and err == (f"error: Audio file '{path}' lasts 6.3e-05 s, too short to measure: use a clip of at "
                                 f"least 0.1 s.\n")


def test_whisper_on_silence_and_nothing_on_speech_are_noted(capsys, blank_ctc_dir, tmp_path):
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(16000, dtype=np.float32), 16000)
    code, out, _ = _run(capsys, "transcribe", str(silence), "--model", str(blank_ctc_dir), "--no-flops")
    assert code == 0 and "notes: " in out and "clip 1 nearly silent: Whisper often answers silence with a short " \
        "phrase such as \"you\" (a known hallucination)" in out
    speech = tmp_path / "speech.wav"
    sf.write(speech, tone(1.0), 16000)
    code, out, _ = _run(capsys, "transcribe", str(speech), "--model", str(blank_ctc_dir), "--no-flops",
                        "--reference", "something was said")
    assert code == 0 and "clip 1 gave no transcript although the audio holds sound and has a reference" in out


@pytest.mark.parametrize("command", [["sweep", "--weights", "synthetic", "--out", "{tmp}/s.parquet"],
                                     ["prefetch", "--models", "", "--cache-dir", "{tmp}/cache"]])
def test_a_clip_folder_whose_transcript_is_not_utf8(capsys, tmp_path, no_model_load, command):
    from fakes import librispeech_folder
    folder = librispeech_folder(tmp_path / "ls")
    (folder / "1-2.trans.txt").write_bytes("1-2-0000 CAFÉ\n".encode("latin-1"))
    code, _, err = _run(capsys, *[c.format(tmp=tmp_path) for c in command], "--clips", str(folder))
    assert code == 2 and "error: 1-2.trans.txt is not UTF-8 text; save it as UTF-8 text.\n" in err
