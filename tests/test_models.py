"""The model facts: which family a registry id, a local folder's config.json or a hub id names."""
from __future__ import annotations

import pytest

from asr_core.errors import ModelError
from asr_core.models import CTC, WHISPER, checkpoint_of, family_of


@pytest.mark.parametrize("content, family", [
    ('{"model_type": "whisper"}', WHISPER),
    ('{"model_type": "wav2vec2"}', CTC),
])
def test_family_from_a_local_config(tmp_path, content, family):
    (tmp_path / "config.json").write_text(content)
    assert family_of(str(tmp_path)) == family


def test_family_from_the_registry_and_hub_ids():
    assert family_of("openai/whisper-tiny") == WHISPER and family_of("facebook/wav2vec2-base-960h") == CTC
    assert family_of("someone/my-Whisper-finetune") == WHISPER
    assert family_of("someone/wav2vec2-large-xlsr") == CTC


@pytest.mark.parametrize("content, says", [
    (b"{not json", "is not valid JSON"),
    (b"\xff\xfe\x00garbage", "is not valid JSON"),  # not even UTF-8
    (b"[1, 2]", "holds a JSON list, not an object"),
    (b'"whisper"', "holds a JSON str, not an object"),
    (b"{}", 'has no "model_type"'),
    (b'{"model_type": "bert"}', "has model_type 'bert', which this tool cannot run"),
    (b'{"model_type": "wav2vec2-conformer"}', "has model_type 'wav2vec2-conformer'"),  # another architecture
])
def test_a_bad_local_config_is_one_sentence_naming_the_file(tmp_path, content, says):
    cfg = tmp_path / "config.json"
    cfg.write_bytes(content)
    with pytest.raises(ModelError) as err:
        family_of(str(tmp_path))
    message = str(err.value)
    assert message.startswith(f"{cfg} ") and says in message
    assert 'with "model_type": "whisper" or "wav2vec2"' in message and message.count(". ") == 0


def test_an_unreadable_config_says_so(tmp_path, monkeypatch):
    from pathlib import Path
    cfg = tmp_path / "config.json"
    cfg.write_text('{"model_type": "whisper"}')

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ModelError, match=r"Could not read .*config.json \(Permission denied\): check its permissions"):
        family_of(str(tmp_path))


# --- checkpoints known by name ---------------------------------------------------------------------

def test_english_only_checkpoints_are_in_the_registry():
    from transformers import WhisperConfig

    from asr_core.models import REGISTRY
    for size, twin in (("tiny", 384), ("base", 512), ("small", 768), ("medium", 1024)):
        en, multi = REGISTRY[f"openai/whisper-{size}.en"], REGISTRY[f"openai/whisper-{size}"]
        assert not en.multilingual and en.params_m == multi.params_m and en.arch["d_model"] == twin
        assert {k: v for k, v in en.arch.items() if k not in ("vocab_size", "decoder_start_token_id", "eos_token_id",
                                                               "pad_token_id", "bos_token_id")} == \
               {k: v for k, v in multi.arch.items() if k not in ("vocab_size", "decoder_start_token_id", "eos_token_id",
                                                                  "pad_token_id", "bos_token_id")}
        assert (en.arch["vocab_size"], en.arch["decoder_start_token_id"], en.arch["eos_token_id"]) == (51864, 50257, 50256)
    defaults = WhisperConfig()
    assert (defaults.eos_token_id, defaults.bos_token_id, defaults.pad_token_id) == (50256, 50256, 50256)


def test_the_shared_tiny_en_folder_is_identified_by_its_architecture():
    import json

    from asr_core.models import REGISTRY, checkpoint_of
    from helpers import TINY_EN
    if not TINY_EN.is_dir():
        pytest.skip("../shared is not present")
    assert checkpoint_of(str(TINY_EN)) == "openai/whisper-tiny.en"
    config = json.loads((TINY_EN / "config.json").read_text())
    spec = REGISTRY["openai/whisper-tiny.en"].arch
    assert {k: config[k] for k in ("vocab_size", "decoder_start_token_id", "eos_token_id", "pad_token_id",
                                    "bos_token_id")} == {k: spec[k] for k in ("vocab_size", "decoder_start_token_id",
                                                                              "eos_token_id", "pad_token_id",
                                                                              "bos_token_id")}


@pytest.mark.parametrize("files, expected", [
    ({"checkpoint.txt": "someone/tiny-finetune\n"}, "someone/tiny-finetune"),  # a name file wins over the match
    ({}, "openai/whisper-tiny.en"),
])
def test_a_local_folder_names_its_checkpoint(tmp_path, files, expected):
    import json

    from asr_core.models import REGISTRY, checkpoint_of
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "whisper", **REGISTRY["openai/whisper-tiny.en"].arch}))
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert checkpoint_of(str(tmp_path)) == expected


def test_name_or_path_and_unknown_folders(tmp_path):
    from asr_core.models import checkpoint_of
    (tmp_path / "config.json").write_text('{"model_type": "whisper", "_name_or_path": "openai/whisper-base.en"}')
    assert checkpoint_of(str(tmp_path)) == "openai/whisper-base.en"
    (tmp_path / "config.json").write_text('{"model_type": "whisper", "d_model": 999}')
    assert checkpoint_of(str(tmp_path)) == str(tmp_path)  # matches nothing: named as given
    assert checkpoint_of("openai/whisper-small") == "openai/whisper-small"


def test_a_shipped_folder_path_absent_here_is_known_by_its_name():
    assert checkpoint_of("../shared-elsewhere/models/whisper-tiny.en") == "openai/whisper-tiny.en"
    assert checkpoint_of("/no/such/place/whisper-base") == "openai/whisper-base"
    assert checkpoint_of("someone/whisper-tiny.en") == "someone/whisper-tiny.en"  # a hub id stays itself
    assert checkpoint_of("/no/such/place/my-finetune") == "/no/such/place/my-finetune"


LONG = "x" * 300  # longer than any file or folder name may be (255 bytes)


@pytest.mark.parametrize("model_id", [LONG, f"openai/whisper-{LONG}", f"/tmp/whisper-{LONG}", "whisper\0tiny"])
def test_a_name_no_folder_or_hub_id_can_have_is_one_sentence(model_id):
    with pytest.raises(ModelError) as err:
        family_of(model_id)
    assert str(err.value).startswith("That model name (") and "check the name." in str(err.value)
    assert LONG not in str(err.value)


def test_display_helpers_take_any_name_without_oserror():
    assert checkpoint_of(f"someone/{LONG}") == f"someone/{LONG}"  # a model value in an uploaded sweep file
    assert checkpoint_of(f"/data/{LONG}/whisper-tiny") == "openai/whisper-tiny"
