"""Shared fixtures: tiny random models saved as local checkpoints, the real material in ../shared, and a steady
RAPL package at the hardware edge."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import SPEECH, TINY_EN, speech_refs
from meter_fakes import SteadyRapl

# the shapes of the tiny test Whispers: one 32-wide layer each side
TINY_SHAPES = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                   encoder_ffn_dim=64, decoder_ffn_dim=64)


@pytest.fixture(autouse=True, scope="session")
def flop_cache_of_the_session(tmp_path_factory):
    """Every test's FLOP counts go to a cache file of this test session, never the user's (~/.cache); a test that
    needs an empty cache points ASR_FLOP_CACHE at a file of its own."""
    from asr_core import flop_cache
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(flop_cache.CACHE_ENV, str(tmp_path_factory.mktemp("flop-cache") / "flops.json"))
        yield


@pytest.fixture
def empty_flop_cache(monkeypatch, tmp_path):
    """A FLOP cache of this test alone, empty: its path."""
    from asr_core import flop_cache
    path = tmp_path / "flops.json"
    monkeypatch.setenv(flop_cache.CACHE_ENV, str(path))
    return path


@pytest.fixture
def steady_rapl(monkeypatch):
    """A RAPL package at the hardware edge (meter_fakes.SteadyRapl): the power trace draws its readings as read, so
    a run on the tiny models, shorter than the CPU estimate's shortest window (hardware.MIN_TRACE_WINDOW_S), still
    draws a trace."""
    from asr_core import energy
    monkeypatch.setattr(energy, "Rapl", SteadyRapl)


@pytest.fixture(scope="session")
def tiny_ctc_dir(tmp_path_factory) -> Path:
    """A tiny random wav2vec2 CTC checkpoint with its processor, loadable with from_pretrained."""
    import torch
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Processor)
    from asr_core.models import W2V2_VOCAB
    d = tmp_path_factory.mktemp("tiny-w2v2")
    torch.manual_seed(0)
    cfg = Wav2Vec2Config(vocab_size=len(W2V2_VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4),
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, feat_extract_norm="layer",
                         do_stable_layer_norm=True, pad_token_id=0)
    Wav2Vec2ForCTC(cfg).save_pretrained(d)
    (d / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(W2V2_VOCAB)}))
    tok = Wav2Vec2CTCTokenizer(str(d / "vocab.json"), word_delimiter_token="|")
    fe = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory) -> Path:
    """A tiny random Whisper with the real tiny.en tokenizer (so generate and decoding are real)."""
    if not TINY_EN.is_dir():
        pytest.skip("../shared/models/whisper-tiny.en is not present")
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration
    d = tmp_path_factory.mktemp("tiny-whisper")
    real = json.loads((TINY_EN / "config.json").read_text())
    torch.manual_seed(0)
    cfg = WhisperConfig(**{**real, **TINY_SHAPES})
    model = WhisperForConditionalGeneration(cfg)
    model.generation_config = GenerationConfig.from_pretrained(TINY_EN)
    model.generation_config.max_length = 24  # random weights rarely stop by themselves
    model.save_pretrained(d)
    for f in TINY_EN.iterdir():
        if f.name not in ("model.safetensors", "config.json", "generation_config.json"):
            shutil.copy(f, d / f.name)
    return d


@pytest.fixture(scope="session")
def synthetic_whisper_dir(tmp_path_factory) -> Path:
    """A 32-wide Whisper architecture (config.json only): its synthetic weights build in a moment and need
    nothing from ../shared, so the fast lane runs the whole run path on it (whisper-tiny itself has 39M
    parameters, and counting its FLOPs takes seconds)."""
    from transformers import WhisperConfig
    from asr_core.models import REGISTRY
    d = tmp_path_factory.mktemp("synthetic-whisper")
    WhisperConfig(**{**REGISTRY["openai/whisper-tiny"].arch, **TINY_SHAPES}).save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory):
    """A local clip source: one recording of eight 2.5 s utterances with a CSV manifest."""
    import soundfile as sf
    from helpers import tone
    d = tmp_path_factory.mktemp("speech")
    rows = []
    for i in range(8):
        sf.write(d / f"u{i}.wav", tone(2.5, 200 + 40 * i, seed=i), 16000)
        rows.append(f"u{i}.wav,word{i} and more,talk1")
    (d / "manifest.csv").write_text("path,text,recording\n" + "\n".join(rows) + "\n")
    return d


@pytest.fixture(scope="session")
def speech():
    """The 20 shared real LibriSpeech utterances and their references (tests using it are marked needs_shared)."""
    from asr_core.audio import load_audio
    refs = speech_refs()
    ids = sorted(refs)
    return [load_audio(SPEECH / f"{i}.flac") for i in ids], [refs[i] for i in ids]


@pytest.fixture(scope="session")
def ctc(tiny_ctc_dir):
    """The tiny wav2vec2 loaded with the eager runtime (pretrained: its random weights, saved)."""
    from asr_core.runtimes import load_model
    return load_model(str(tiny_ctc_dir), "cpu", "fp32", "pretrained")


@pytest.fixture(scope="session")
def synthetic(synthetic_whisper_dir):
    """Synthetic weights of the 32-wide Whisper: the forced decoder and the FLOP split, in a moment."""
    from asr_core.runtimes import load_model
    return load_model(str(synthetic_whisper_dir), "cpu", "fp32", "synthetic")
