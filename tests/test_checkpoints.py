"""Checkpoints that cannot be loaded: a damaged model.safetensors, a bad config.json, an unreachable hub."""
from __future__ import annotations

import json
import shutil

import pytest

from asr_core import checkpoints
from asr_core.errors import ModelError
from asr_core.models import CTC, WHISPER
from helpers import TINY_EN, needs_shared


@pytest.fixture
def ctc_copy(tiny_ctc_dir, tmp_path):
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ctc_dir, d)
    return d


def _load_error(folder, weights="pretrained") -> str:
    with pytest.raises(ModelError) as err:
        checkpoints.load_torch_model(str(folder), CTC, "cpu", "fp32", weights)
    return str(err.value)


@pytest.mark.parametrize("damage, detail", [
    (lambda b: bytes(range(256)) * (len(b) // 256), "header too large"),  # random bytes
    (lambda b: b[: len(b) // 2], "incomplete metadata"),  # truncated download
    (lambda b: b[:4], "header too small"),
])
def test_a_damaged_safetensors_file_is_one_sentence(ctc_copy, damage, detail):
    weights = ctc_copy / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    message = _load_error(ctc_copy)
    assert message.startswith(f"Could not read the weights of '{ctc_copy}' (")
    assert detail in message and message.endswith(
        "the checkpoint is damaged or incomplete, so download it again or use --weights synthetic.")


def test_weights_of_other_shapes_than_the_config_says(ctc_copy):
    cfg = json.loads((ctc_copy / "config.json").read_text())
    (ctc_copy / "config.json").write_text(json.dumps({**cfg, "intermediate_size": 48}))
    assert _load_error(ctc_copy) == (f"The weights of '{ctc_copy}' do not have the shapes its config.json describes: "
                                     f"the checkpoint is damaged or incomplete, so download it again or use "
                                     f"--weights synthetic.")


def test_synthetic_weights_need_only_the_config(ctc_copy):
    (ctc_copy / "model.safetensors").write_bytes(b"junk")
    checkpoint = checkpoints.load_torch_model(str(ctc_copy), CTC, "cpu", "fp32", "synthetic")
    assert checkpoint.weights == "synthetic" and checkpoint.model.config.hidden_size == 32


@pytest.mark.parametrize("content, says", [
    ("{not json", "is not valid JSON"),
    ("[]", "holds a JSON list"),
    ('{"model_type": "whisper", "encoder_layers": 1', "is not valid JSON"),
])
def test_synthetic_config_of_a_bad_folder_names_its_config(tmp_path, content, says):
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(ModelError, match=f"^{tmp_path}/config.json {says}"):
        checkpoints.synthetic_config(str(tmp_path), WHISPER)


def test_synthetic_config_of_a_folder_without_one(tmp_path):
    with pytest.raises(ModelError, match=f"^{tmp_path} has no config.json: give the folder"):
        checkpoints.synthetic_config(str(tmp_path), WHISPER)


def test_an_unreachable_hub_says_what_to_do_without_prefetch(monkeypatch):
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(checkpoints, "_hub_reachable", lambda endpoint: False)
    with pytest.raises(ModelError) as err:
        checkpoints.load_torch_model("someone/not-cached-whisper", WHISPER, "cpu", "fp32", "pretrained")
    message = str(err.value)
    assert message.startswith("Could not load 'someone/not-cached-whisper' because someone/not-cached-whisper is "
                              "not in the local Hugging Face cache")
    assert message.endswith(": connect to the network, or use a local checkpoint folder; --weights synthetic needs "
                            "no download.")
    assert "prefetch" not in message and message.count(". ") == 0


def test_a_folder_without_config_asks_for_one(tmp_path):
    folder = tmp_path / "whisper-small"
    folder.mkdir()
    with pytest.raises(ModelError) as err:
        checkpoints.load_torch_model(str(folder), WHISPER, "cpu", "fp32", "pretrained")
    assert str(err.value) == (f"Could not load '{folder}' because {folder} has no config.json: give the folder the "
                              f'config.json of a Whisper or wav2vec2 checkpoint (with "model_type": "whisper" or '
                              f'"wav2vec2").')


def test_pretrained_problem_local_folders_and_an_offline_hub(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    assert checkpoints.pretrained_problem(str(tmp_path)) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no config.json" in checkpoints.pretrained_problem(str(empty))
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert "HF_HUB_OFFLINE" in checkpoints.pretrained_problem("someone/not-cached-model")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(checkpoints, "_hub_reachable", lambda endpoint: False)
    assert "cannot be reached" in checkpoints.pretrained_problem("someone/not-cached-model")


def test_pretrained_problem_of_a_path_that_is_not_there():
    assert "neither a local folder nor a hub id" in checkpoints.pretrained_problem("/no/such/model")



@needs_shared
def test_a_tokenizer_from_a_local_folder_counts_a_references_tokens():
    count = checkpoints.token_counter(str(TINY_EN))
    assert count("hello world") == 2 and count("") == 0
