"""Where the app's clips and models come from: the clip cache, sample folders, checkpoint folders."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from asr_core.clips import Clip
from asr_core.errors import ClipSourceError

from asr_app import inputs
from fakes import librispeech_folder


REFUSED = ("That folder is not one this app may read: choose one of the listed folders, or ask the operator to "
           "add it to ASR_SAMPLE_FOLDERS.")


@pytest.fixture(autouse=True)
def no_operator_folders(monkeypatch):
    """Sample folders and the clip cache from each test alone, not from the shell that runs the tests."""
    monkeypatch.delenv(inputs.SAMPLE_FOLDERS_ENV, raising=False)
    monkeypatch.delenv("ASR_CLIP_CACHE", raising=False)


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
    assert inputs.sample_folders(root) == []
    speech = librispeech_folder(tmp_path / "shared" / "speech" / "ls")
    ckpt = tmp_path / "shared" / "models" / "tiny"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    assert inputs.sample_folders(root) == [speech.resolve()]
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


# --- sample folders are confined to the allowed roots -------------------------------------------------

@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository folder and one operator folder, tmp/extra, holding a LibriSpeech chapter two levels down."""
    root = tmp_path / "repo"
    root.mkdir()
    librispeech_folder(tmp_path / "extra" / "set" / "chapter")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "notes.trans.txt").write_text("1-2-0000 PRIVATE\n")
    monkeypatch.setenv(inputs.SAMPLE_FOLDERS_ENV, os.pathsep.join(["../extra", "", str(tmp_path / "gone")]))
    return root


def test_operator_folders_are_listed_with_their_root_name(repo, tmp_path):
    chapter = (tmp_path / "extra" / "set" / "chapter").resolve()
    assert inputs.sample_roots(repo) == [(tmp_path / "extra").resolve()]  # missing roots are left out
    assert inputs.sample_folders(repo) == [chapter]
    assert inputs.folder_label(chapter, repo) == "extra/set/chapter"
    assert inputs.allowed_folder("../extra/set/chapter", repo) == chapter
    assert inputs.allowed_folder(str(chapter), repo) == chapter
    utts = inputs.folder_utterances(inputs.allowed_folder(str(chapter), repo))
    assert [(u.utt_id, u.text) for u in utts] == [("1-2-0000", "WORD NUMBER 0"), ("1-2-0001", "WORD NUMBER 1")]


@pytest.mark.parametrize("attempt", ["/", "..", "../secret", "../extra/../secret", "../extra/link",
                                     "../extra/missing", "../nowhere", "../extra/set/chapter/1-2.trans.txt",
                                     "../extra/nul\0byte"])
def test_folders_outside_the_allowed_roots_get_one_message(repo, tmp_path, attempt):
    (tmp_path / "extra" / "link").symlink_to(tmp_path / "secret", target_is_directory=True)
    with pytest.raises(ClipSourceError) as caught:
        inputs.allowed_folder(attempt, repo)
    assert str(caught.value) == REFUSED  # the same whether the folder exists or not: nothing to probe with


def test_the_list_skips_links_and_stops_at_its_bounds(repo, tmp_path, monkeypatch):
    extra = (tmp_path / "extra").resolve()
    (extra / "link").symlink_to(tmp_path / "secret", target_is_directory=True)
    librispeech_folder(extra / "a" / "b" / "c" / "too-deep")
    for name in ("x", "y"):
        librispeech_folder(extra / name)
    assert inputs.sample_folders(repo) == [extra / "x", extra / "y", extra / "set" / "chapter"]
    monkeypatch.setattr(inputs, "MAX_SAMPLE_FOLDERS", 2)
    assert inputs.sample_folders(repo) == [extra / "x", extra / "y"]


def test_the_clip_cache_is_allowed_but_not_listed(tmp_path):
    root = tmp_path / "repo"
    (root / ".clip_cache" / "5s").mkdir(parents=True)
    (root / ".clip_cache" / "manifest.jsonl").write_text("")  # clips, which have their own source in the app
    assert inputs.sample_roots(root) == [(root / ".clip_cache").resolve()]
    assert inputs.sample_folders(root) == []
    assert inputs.allowed_folder(".clip_cache/5s", root) == (root / ".clip_cache" / "5s").resolve()
    assert inputs.folder_label(root / ".clip_cache" / "5s", root) == ".clip_cache/5s"


def test_messages_name_the_cache_and_folders_without_server_paths(repo, tmp_path, monkeypatch):
    assert inputs.cache_name(repo / ".clip_cache", repo) == "the clip cache `.clip_cache`"
    assert inputs.cache_name(tmp_path / "elsewhere", repo) == "the clip cache"
    audio = (tmp_path / "extra" / "set" / "chapter" / "1-2-0000.flac").resolve()
    message = f"Audio file '{audio}' is empty (0 bytes): choose another file; see '{repo.resolve()}/README.md'."
    assert inputs.public_message(message, repo) == ("Audio file 'extra/set/chapter/1-2-0000.flac' is empty "
                                                    "(0 bytes): choose another file; see 'README.md'.")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "manifest.jsonl").write_text("not json\n")
    with pytest.raises(ClipSourceError) as caught:
        inputs.cached_clips(tmp_path / "cache")
    assert str(caught.value) == inputs.CACHE_UNREADABLE and str(tmp_path) not in inputs.CACHE_UNREADABLE


def test_known_sample_folders_show_their_names(tmp_path):
    ted = tmp_path / "speech" / "ted-talk-samples"
    ted.mkdir(parents=True)
    assert inputs.folder_label(ted, tmp_path) == "TED talk samples"


def test_a_clip_cache_at_the_file_system_root_opens_nothing(tmp_path, monkeypatch):
    """ASR_CLIP_CACHE=/ must not make /etc a sample folder: the cache is a root only once built, never too broad."""
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.setenv("ASR_CLIP_CACHE", "/")
    assert inputs.sample_roots(root) == []
    for attempt in ("/etc", "/", str(tmp_path)):
        with pytest.raises(ClipSourceError, match=f"^{REFUSED}$"):
            inputs.allowed_folder(attempt, root)
    assert inputs.too_broad(Path("/")) and inputs.too_broad(Path.home().resolve().parent)
    assert not inputs.too_broad(Path.home().resolve()) and not inputs.too_broad(tmp_path)


def test_operator_entries_expand_home_and_are_explained_once(tmp_path, monkeypatch, caplog):
    root = tmp_path / "repo"
    root.mkdir()
    home = tmp_path / "home"
    chapter = librispeech_folder(home / "samples" / "chapter").resolve()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(inputs, "_explained", set())
    monkeypatch.setenv(inputs.SAMPLE_FOLDERS_ENV, os.pathsep.join(["~/samples", "~/missing", "/"]))
    with caplog.at_level("WARNING", logger=inputs.__name__):
        assert inputs.sample_roots(root) == [(home / "samples").resolve()]
        assert inputs.sample_folders(root) == [chapter]
    said = [r.getMessage() for r in caplog.records]
    assert said == ["ASR_SAMPLE_FOLDERS: '~/missing' is not an existing folder, so it is left out.",
                    "ASR_SAMPLE_FOLDERS: '/' would open every folder of this machine, so it is left out: name the "
                    "folder that holds what the app may read."]  # once each, though the roots were read twice
