"""What this machine can run, as the Transcribe page offers it: every choice with the reason it cannot run."""
from __future__ import annotations

import pytest
import torch

from asr_app import choices, configs
from asr_core import capabilities, models

TINY = "openai/whisper-tiny"


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_without_a_gpu_cuda_is_refused_with_the_reason(no_gpu):
    assert choices.device_problems() == {"cpu": None, "cuda": choices.NO_GPU}
    assert choices.default_device() == "cpu"
    assert set(choices.precision_problems("cuda").values()) == {choices.NO_GPU}
    assert choices.run_problems([TINY], "cuda", "fp32") == [f"cuda: {choices.NO_GPU}"]


def test_fp16_on_cpu_is_refused_with_the_models_reason(no_gpu):
    problems = choices.precision_problems("cpu")
    assert problems["fp32"] is None and problems["bf16"] is None
    assert problems["fp16"] == capabilities.precision_problem("cpu", "fp16")
    assert choices.run_problems([TINY], "cpu", "fp16") == [f"fp16 on cpu: {problems['fp16']}"]
    assert choices.run_problems([], "cpu", "fp32") == ["choose at least one model"]
    assert choices.run_problems([TINY], "cpu", "fp32") == []


def test_runtime_and_precision_problems_follow_each_other(no_gpu):
    assert choices.runtime_problems([TINY]) == dict.fromkeys(models.RUNTIMES)
    w2v = choices.runtime_problems(["facebook/wav2vec2-base-960h", TINY])
    assert w2v["transformers"] is None and "Whisper only" in w2v["ctranslate2"]
    assert "ctranslate2 runtime only" in choices.precision_problems("cpu")["int8"]
    assert choices.precision_problems("cpu", "ctranslate2")["int8"] is None
    assert choices.run_problems([TINY], "cpu", "int8", "ctranslate2") == []
    refused = choices.run_problems(["facebook/wav2vec2-base-960h"], "cpu", "fp32", "ctranslate2")
    assert len(refused) == 1 and refused[0].startswith("runtime ctranslate2: facebook/wav2vec2-base-960h: ")


def test_precision_captions_are_short_for_another_runtimes_formats(no_gpu):
    captions = dict(zip(models.PRECISIONS, choices.precision_captions("cpu")))
    assert captions["fp32"] == "available" and captions["fp16"].startswith("fp16 is not supported on CPU")
    assert captions["int8"] == "ctranslate2 runtime only" and captions["q5_1"] == "whisper.cpp runtime only"
    assert dict(zip(models.PRECISIONS, choices.precision_captions("cpu", "ctranslate2")))["int8"] == "available"
    cpp = dict(zip(models.PRECISIONS, choices.precision_captions("cpu", "whisper.cpp")))
    assert cpp["fp32"] == "whisper.cpp runs fp16, q8_0, q5_1 only" and cpp["q8_0"] == cpp["fp16"] == "available"
    # the Run button's reason keeps the whole sentence
    assert choices.run_problems([TINY], "cpu", "int8") == [f"int8 on cpu: {choices.precision_problems('cpu')['int8']}"]


def test_weights_warnings_only_for_pretrained_and_only_where_there_is_a_problem():
    check = {"a": "a is not cached and the hub cannot be reached", "b": None}.get
    assert choices.weights_warnings(["a", "b"], "synthetic", check) == []
    warnings = choices.weights_warnings(["a", "b"], "pretrained", check)
    assert len(warnings) == 1 and warnings[0].startswith("Pretrained weights unavailable: a is not cached")
    assert "synthetic weights" in warnings[0]


def test_a_runtime_that_cannot_batch_says_so_in_one_sentence(no_gpu):
    problems = choices.run_problems([TINY], "cpu", "fp16", models.WHISPER_CPP, batch_size=8)
    assert problems == [f"batch 8 with whisper.cpp: {models.batch_problem(models.WHISPER_CPP, 8)}"]
    assert choices.run_problems([TINY], "cpu", "fp16", models.WHISPER_CPP, 1) == []
    rows = [configs.RunRequest(TINY, "cpu", "fp16", "synthetic", 8, models.WHISPER_CPP),
            configs.RunRequest(TINY, "cpu", "fp32", "synthetic")]
    assert [p.split(":")[0] for p in choices.rows_problems(rows)] == [f"{TINY} · fp16 · whisper.cpp · batch 8"]



def test_weights_default_to_pretrained_where_they_can_be_had():
    check = {"a": "a is not cached", "b": None}.get
    assert choices.weights_for("a", check) == "synthetic" and choices.weights_for("b", check) == "pretrained"
