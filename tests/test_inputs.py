"""Where the app's clips and models come from: the clip cache, sample folders, checkpoint folders."""
from __future__ import annotations

import json

import pytest

from asr_app import inputs
from asr_core.clips import Clip
from asr_core.segments import ClipSourceError
from asr_core.models import REGISTRY
from fakes import librispeech_folder


def _clip(bucket: str, duration: float, clip_id: str) -> Clip:
    return Clip(clip_id, f"/c/{clip_id}.flac", "so this is a talk about speech recognition and what it costs",
                duration, bucket, "Talk1", 0.0, duration, "tedlium3-dev")


def test_an_unbuilt_cache_has_no_clips_but_a_broken_one_says_so(tmp_path):
    assert inputs.cached_clips(tmp_path / "none") == []
    (tmp_path / "manifest.jsonl").write_text("not json\n")
    with pytest.raises(ClipSourceError):
        inputs.cached_clips(tmp_path)


def test_cached_clips_are_read_from_the_manifest(tmp_path):
    record = {"clip_id": "5s_a", "path": "5s/5s_a.flac", "reference": "hello", "duration_s": 4.0, "bucket": "5s",
              "talk": "a", "start_s": 0.0, "end_s": 4.0, "source": "tedlium3-dev"}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(record) + "\n")
    clips = inputs.cached_clips(tmp_path)
    assert [c.clip_id for c in clips] == ["5s_a"] and clips[0].path == str(tmp_path / "5s" / "5s_a.flac")


def test_clips_by_bucket_shortest_bucket_and_clip_first():
    clips = [_clip("30s", 31, "c"), _clip("5s", 6, "b"), _clip("5s", 4, "a"), _clip("15s", 12, "d")]
    groups = inputs.clips_by_bucket(clips)
    assert list(groups) == ["5s", "15s", "30s"]
    assert [c.clip_id for c in groups["5s"]] == ["a", "b"]


def test_clip_labels():
    label = inputs.clip_label(_clip("5s", 4.25, "a"))
    assert label == "Talk1 · 4.2 s · so this is a talk about speech recognition …"


def test_chosen_models_add_the_typed_one_once():
    assert inputs.chosen_models(["a", "b"], " c ") == ["a", "b", "c"]
    assert inputs.chosen_models(["a"], "a") == ["a"]
    assert inputs.chosen_models([], "  ") == []


def test_shared_folders_beside_the_repository(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    assert inputs.sample_folders(root) == [] and inputs.local_model_folders(root) == []
    speech = librispeech_folder(tmp_path / "shared" / "speech" / "ls")
    ckpt = tmp_path / "shared" / "models" / "tiny"
    ckpt.mkdir(parents=True)
    (tmp_path / "shared" / "models" / "no-config").mkdir()
    (ckpt / "config.json").write_text("{}")
    assert inputs.sample_folders(root) == [speech.resolve()]
    assert inputs.local_model_folders(root) == [str(ckpt.resolve())]
    assert inputs.model_options(root) == [*REGISTRY, str(ckpt.resolve())]
    assert inputs.model_label(str(ckpt)) == "tiny (local)"
    assert inputs.model_label("openai/whisper-tiny") == "openai/whisper-tiny"


def test_folder_utterances_of_a_librispeech_folder(tmp_path):
    folder = librispeech_folder(tmp_path / "ls", n=3, seconds=1.5)
    utts = inputs.folder_utterances(folder)
    assert [u.utt_id for u in utts] == ["1-2-0000", "1-2-0001", "1-2-0002"]
    assert utts[1].text == "WORD NUMBER 1" and utts[1].duration_s == pytest.approx(1.5)
    assert inputs.utterance_label(utts[0]) == "1-2-0000 · 1.5 s · WORD NUMBER 0"
    with pytest.raises(ClipSourceError):
        inputs.folder_utterances(tmp_path / "missing")
