"""The model facts: which family a registry id, a local folder's config.json or a hub id names."""
from __future__ import annotations

import pytest

from asr_core.models import CTC, WHISPER, ModelError, family_of


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
