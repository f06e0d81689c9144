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


class _FakeHub:
    """The hub edge as HfApi.model_info answers: a repository's files with their sizes (files_metadata=True)."""

    def __init__(self, files: dict[str, int] | None, error: Exception | None = None):
        self.files, self.error, self.asked = files, error, []

    def model_info(self, repo_id, files_metadata=False, timeout=None):
        from types import SimpleNamespace
        self.asked.append((repo_id, files_metadata))
        if self.error:
            raise self.error
        return SimpleNamespace(siblings=[SimpleNamespace(rfilename=n, size=b) for n, b in self.files.items()])


def test_download_bytes_counts_what_from_pretrained_fetches(monkeypatch):
    import huggingface_hub
    hub = _FakeHub({"model.safetensors": 3_000_000_000, "config.json": 2_000, "tokenizer.json": 2_500_000,
                    "merges.txt": 500_000, "pytorch_model.bin": 3_000_000_000, "tf_model.h5": 3_000_000_000,
                    "onnx/encoder.onnx": 100_000_000, "README.md": 10_000})
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: hub)
    assert checkpoints.download_bytes("someone/big-whisper") == 3_000_000_000 + 2_000 + 2_500_000 + 500_000
    assert hub.asked == [("someone/big-whisper", True)]


def test_download_bytes_unknown_to_the_hub_is_one_sentence(monkeypatch):
    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: _FakeHub(None, ConnectionError("no route")))
    with pytest.raises(ModelError) as err:
        checkpoints.download_bytes("someone/whisper-x")
    assert str(err.value) == ("The size of someone/whisper-x could not be read from the model hub (ConnectionError), "
                              "so it is not downloaded: check the name, or fetch it on this machine first with "
                              "`asr-profile prefetch --models someone/whisper-x`.")


def test_needs_download_only_for_hub_ids_not_cached(tmp_path, monkeypatch):
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # an empty Hugging Face cache
    assert checkpoints.needs_download("someone/not-cached-whisper")
    assert not checkpoints.needs_download(str(tmp_path))  # a local folder
    assert not checkpoints.needs_download("not a hub id!")


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
