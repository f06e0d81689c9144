"""Test data for the app: a small, realistic-looking sweep table (never written into precomputed/,
which ships real measurements) and a LibriSpeech-style folder of tones."""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd

from asr_core.results import Result
from asr_core.sampler import PowerSample
from helpers import tone

FAKE_CLIP_SOURCE = "fake-test-data"
BUCKET_S = {"5s": 5.0, "15s": 15.0, "30s": 32.0, "60s": 62.0}
# model -> (family, relative cost, WER at 5 s)
MODELS = {"openai/whisper-tiny": ("whisper", 1.0, 0.12), "openai/whisper-base": ("whisper", 1.9, 0.09),
          "facebook/wav2vec2-base-960h": ("ctc", 1.3, 0.07)}
CPU = "Intel(R) Xeon(R) Platinum 8480+"
GPU = "NVIDIA H100 80GB HBM3"


def _row(model: str, weights: str, device: str, bucket: str, batch: int, repeat: int, rng) -> dict:
    family, cost, wer = MODELS[model]
    clip_s, n = BUCKET_S[bucket], 8
    gpu = device == "cuda"
    per_utt = cost * (0.05 + 0.01 * clip_s) * (0.15 if gpu else 1.0) / (batch ** (0.5 if gpu else 0.15))
    per_utt *= 1 + 0.03 * rng.standard_normal()
    latency = per_utt * n
    pre, enc = 0.08 * latency, (0.55 if family == "ctc" else 0.35) * latency
    power = 310.0 if gpu else 42.0
    energy = power * latency
    mem = int((900 if gpu else 600) * 2**20 * cost * (1 + 0.05 * batch * clip_s / 15))
    r = Result(model=model, family=family, weights=weights, device=device, precision="fp16" if gpu else "fp32",
               batch_size=batch, n_clips=n, n_batches=math.ceil(n / batch), audio_s=clip_s * n, bucket=bucket,
               preprocess_s=pre, encoder_s=enc, decoder_s=latency - pre - enc, latency_s=latency,
               latency_per_batch_s=latency / math.ceil(n / batch), latency_per_utt_s=per_utt,
               rtf=latency / (clip_s * n), throughput_audio_s_per_s=clip_s * n / latency,
               throughput_utt_per_s=n / latency, energy_j=energy,
               energy_source="nvml_counter+estimate" if gpu else "estimate",
               energy_per_utt_j=energy / n, energy_per_audio_s_j=energy / (clip_s * n), mean_power_w=power,
               peak_gpu_allocated_bytes=mem if gpu else 0, peak_gpu_reserved_bytes=int(mem * 1.2) if gpu else 0,
               peak_rss_bytes=mem if not gpu else 2 * 2**30, encoder_flops_per_clip=cost * 2e10 * clip_s / 30,
               total_flops=cost * 3e10 * n, decoder_steps=int(3 * clip_s * n),
               wer=math.nan if weights == "synthetic" else wer * (1 + 0.1 * (clip_s > 20)),
               cer=math.nan if weights == "synthetic" else wer / 2,
               cpu_name=CPU, gpu_name=GPU if gpu else "", timestamp="2025-01-01T00:00:00+00:00")
    return {**r.to_dict(), "repeat": repeat, "runtime": "transformers", "clip_source": FAKE_CLIP_SOURCE,
            "git_commit": "abc1234"}


def fake_sweep(seed: int = 0, repeats: int = 2) -> pd.DataFrame:
    """Pretrained and synthetic rows on CPU and GPU over four buckets and two batch sizes, plus failures."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, device, bucket, batch, repeat in itertools.product(
            MODELS, ("cpu", "cuda"), BUCKET_S, (1, 8), range(repeats)):
        rows.append(_row(model, "pretrained", device, bucket, batch, repeat, rng))
        if model == "openai/whisper-tiny":
            rows.append(_row(model, "synthetic", device, bucket, batch, repeat, rng))
    oom = Result(model="openai/whisper-base", family="whisper", weights="pretrained", device="cuda",
                 precision="fp16", batch_size=32, bucket="60s", status="oom",
                 error="ResourceError: Out of GPU memory running openai/whisper-base at batch size 32")
    rows.append({**oom.to_dict(), "repeat": 0, "runtime": "transformers", "clip_source": FAKE_CLIP_SOURCE,
                 "git_commit": "abc1234"})
    return pd.DataFrame(rows)


def librispeech_folder(folder: Path, n: int = 2, seconds: float = 1.0) -> Path:
    """n utterances of one chapter ("1-2-0000" ...), tones of the given length, with a .trans.txt."""
    import soundfile as sf
    folder.mkdir(parents=True)
    lines = []
    for i in range(n):
        sf.write(folder / f"1-2-{i:04d}.flac", tone(seconds, 200 + 50 * i, seed=i), 16000)
        lines.append(f"1-2-{i:04d} WORD NUMBER {i}")
    (folder / "1-2.trans.txt").write_text("\n".join(lines) + "\n")
    return folder


def result(**over) -> Result:
    """One finished live run of whisper-tiny on a 2 s clip, with a short power trace; fields overridable."""
    base = dict(model="openai/whisper-tiny", family="whisper", weights="pretrained", device="cpu", precision="fp32", batch_size=1,
                n_clips=1, n_batches=1, audio_s=2.0, preprocess_s=0.1, encoder_s=0.3, decoder_s=0.6, latency_s=1.0,
                latency_per_utt_s=1.0, rtf=0.5, energy_j=40.0, energy_per_utt_j=40.0, energy_source="estimate",
                cpu_energy_source="estimate",
                energy_per_audio_s_j=20.0, peak_rss_bytes=800 * 2**20, total_flops=2.7e10, wer=0.125, cer=0.04,
                hypotheses=("captain freer says",), references=("captain frere says",),
                power_trace=(PowerSample(0.05, "cpu", 42.0), PowerSample(0.1, "cpu", 44.0)))
    return Result(**{**base, **over})
