"""Clips by bucket: TED-LIUM rows from a parquet fixture, LibriSpeech and manifest folders, the cache."""
from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_core import clips
from asr_core.clips import (BUCKETS, SAMPLE_RATE, build_buckets, build_clip_cache, clean_reference, load_manifest,
                            local_folder_segments, segments_from_source)
from asr_core.errors import ClipSourceError
from asr_core.segments import Segment
from asr_core.tedlium import tedlium_segments
from fakes import librispeech_folder

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LIBRI = SHARED / "speech" / "librispeech-dev-clean-3752-4944"
needs_libri = pytest.mark.skipif(not LIBRI.is_dir(), reason=f"{LIBRI} is absent")
IGNORE = "ignore_time_segment_in_scoring"
TEST_BUCKETS = {"5s": (3.0, 7.0), "15s": (10.0, 20.0), "30s": (25.0, 40.0)}
# (speaker, start, end, text): two talks, each broken by an ignored segment
TALKS = [
    ("AlphaTalk_2010", 0.0, 4.0, "hello <unk> world"),
    ("AlphaTalk_2010", 4.0, 6.0, IGNORE),
    ("AlphaTalk_2010", 6.0, 10.0, "it 's a test"),
    ("AlphaTalk_2010", 10.0, 16.0, "we 're here"),
    ("AlphaTalk_2010", 16.0, 22.0, "and <unk> there"),
    ("AlphaTalk_2010", 22.0, 32.0, "the end"),
    ("BetaTalk_2011", 0.0, 5.0, "one"),
    ("BetaTalk_2011", 5.0, 11.0, "two"),
    ("BetaTalk_2011", 11.0, 12.0, IGNORE),
    ("BetaTalk_2011", 12.0, 18.0, "three"),
    ("BetaTalk_2011", 18.0, 30.0, "four"),
]


def _tone(seconds: float, freq: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (0.1 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _flac_bytes(audio: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, format="FLAC")
    return buf.getvalue()


def _write_parquet(path: Path, columns: dict[str, list]) -> Path:
    """A parquet file as the hub's conversion writes it: the HF features in the schema metadata."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = datasets.Features({name: datasets.Audio(sampling_rate=SAMPLE_RATE) if name == "audio"
                                  else datasets.Value("string") for name in columns})
    pq.write_table(pa.table(columns, schema=features.arrow_schema), path)
    return path


@pytest.fixture(scope="module")
def tedlium_parquet(tmp_path_factory) -> Path:
    rows = list(enumerate(TALKS))
    random.Random(0).shuffle(rows)  # the loader must restore the order from the ids
    columns: dict[str, list] = {"audio": [], "text": [], "speaker_id": [], "file": [], "id": []}
    for n, (speaker, start, end, text) in rows:
        columns["audio"].append({"bytes": _flac_bytes(_tone(end - start, 200 + 20 * n)), "path": None})
        columns["text"].append(text)
        columns["speaker_id"].append(speaker)
        columns["file"].append(f"/data/sph/{speaker}.sph")
        columns["id"].append(f"{speaker}-{start:.2f}-{end:.2f}-<o,f0,female>")
    return _write_parquet(tmp_path_factory.mktemp("tedlium") / "validation.parquet", columns)


@pytest.fixture(scope="module")
def ted(tedlium_parquet) -> dict[str, list[Segment]]:
    return tedlium_segments(dataset_id="parquet", data_files=str(tedlium_parquet), streaming=True)


def _spans(windows) -> list[tuple[str, float, float]]:
    return [(w[0].recording, w[0].start_s, w[-1].end_s) for w in windows]


# --- text -----------------------------------------------------------------------------------

def test_clean_reference_drops_unk_and_joins_contractions():
    assert clean_reference("so  it 's <unk> great <unk>\tdon 't ") == "so it's great don't"
    assert clean_reference("<unk>") == ""


# --- TED-LIUM -------------------------------------------------------------------------------

def test_tedlium_segments_order_times_ignored_and_audio(ted):
    assert list(ted) == ["AlphaTalk_2010", "BetaTalk_2011"]
    alpha = ted["AlphaTalk_2010"]
    assert [(s.start_s, s.end_s) for s in alpha] == [(0, 4), (4, 6), (6, 10), (10, 16), (16, 22), (22, 32)]
    assert [s.ignored for s in alpha] == [False, True, False, False, False, False]
    assert [s.ignored for s in ted["BetaTalk_2011"]] == [False, False, True, False, False]
    assert alpha[2].text == "it 's a test"  # raw text; clips clean it
    assert alpha[3].samples().shape == (6 * SAMPLE_RATE,) and alpha[3].samples().dtype == np.float32


def test_tedlium_buckets_stay_in_one_talk_between_ignored_segments(ted):
    chosen = build_buckets(ted, TEST_BUCKETS, per_bucket=8)
    assert _spans(chosen["5s"]) == [("AlphaTalk_2010", 0, 4), ("AlphaTalk_2010", 6, 10), ("AlphaTalk_2010", 10, 16),
                                    ("AlphaTalk_2010", 16, 22), ("BetaTalk_2011", 0, 5), ("BetaTalk_2011", 5, 11),
                                    ("BetaTalk_2011", 12, 18)]
    assert _spans(chosen["15s"]) == [("AlphaTalk_2010", 6, 16), ("AlphaTalk_2010", 6, 22), ("AlphaTalk_2010", 10, 22),
                                     ("AlphaTalk_2010", 16, 32), ("AlphaTalk_2010", 22, 32), ("BetaTalk_2011", 0, 11),
                                     ("BetaTalk_2011", 12, 30), ("BetaTalk_2011", 18, 30)]
    # 0-16 in Alpha (14 s of speech) and 0-30 in Beta (29 s) would fit if ignored segments did not break runs
    assert _spans(chosen["30s"]) == [("AlphaTalk_2010", 6, 32)]
    for name, windows in chosen.items():
        low, high = TEST_BUCKETS[name]
        for window in windows:
            assert len({s.recording for s in window}) == 1 and not any(s.ignored for s in window)
            assert all(a.end_s == b.start_s for a, b in zip(window, window[1:]))  # consecutive
            assert low <= sum(s.duration_s for s in window) <= high


def test_bucket_choice_is_deterministic_and_prefers_disjoint_clips(ted):
    first = build_buckets(ted, TEST_BUCKETS, per_bucket=3, seed=42)
    assert build_buckets(ted, TEST_BUCKETS, per_bucket=3, seed=42) == first
    assert [len(first[name]) for name in TEST_BUCKETS] == [3, 3, 1]
    for windows in first.values():  # enough disjoint candidates here: no segment used twice
        used = [s for w in windows for s in w]
        assert len(used) == len(set(used))
    others = [build_buckets(ted, TEST_BUCKETS, per_bucket=3, seed=seed) for seed in range(5)]
    assert any(other != first for other in others)


def test_tedlium_cache_has_clean_references(tmp_path, tedlium_parquet):
    built = build_clip_cache("tedlium", tmp_path, TEST_BUCKETS, per_bucket=8, dataset_id="parquet",
                             data_files=str(tedlium_parquet))
    refs = {(c.bucket, c.talk, c.start_s): c.reference for c in built}
    assert refs[("5s", "AlphaTalk_2010", 0.0)] == "hello world"
    assert refs[("30s", "AlphaTalk_2010", 6.0)] == "it's a test we're here and there the end"
    assert {c.source for c in built} == {"tedlium3-dev"}
    clip = next(c for c in built if c.bucket == "30s")
    assert clip.duration_s == pytest.approx(26.0) and sf.info(clip.path).frames == 26 * SAMPLE_RATE
    assert Path(clip.path) == tmp_path.resolve() / "30s" / f"{clip.clip_id}.flac"


def test_tedlium_rows_without_times_accumulate_audio_durations(tmp_path):
    columns = {"audio": [{"bytes": _flac_bytes(_tone(s, 300)), "path": None} for s in (3.0, 2.0, 1.5)],
               "text": ["third", "first", IGNORE], "id": ["utt-c", "utt-a", "utt-b"]}
    path = _write_parquet(tmp_path / "esb.parquet", columns)
    segments = tedlium_segments(dataset_id="parquet", data_files=[str(path)], split="test")
    assert list(segments) == ["talk"]
    assert [(s.text, s.start_s, s.end_s, s.ignored) for s in segments["talk"]] == [
        ("first", 0.0, 2.0, False), (IGNORE, 2.0, 3.5, True), ("third", 3.5, 6.5, False)]


def test_tedlium_row_with_decoded_array_and_kaldi_id_is_resampled():
    from asr_core.tedlium import _parse_row, _talk_segments

    row = _parse_row({"audio": {"array": _tone(2.0, 200, sr=8000), "sampling_rate": 8000},
                      "text": "hi", "id": "AlGore_2009-0001703-0002069"})
    assert (row.talk, row.start_s, row.end_s) == ("AlGore_2009", pytest.approx(17.03), pytest.approx(20.69))
    (segment,) = _talk_segments(row.talk, [row])
    assert segment.samples().shape == (2 * SAMPLE_RATE,)


def test_unreachable_hub_is_one_clear_error(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'LIUM/tedlium' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(ClipSourceError, match=r"could not reach the dataset hub .*asr-profile prefetch"):
        segments_from_source("tedlium")


def test_missing_parquet_files_is_one_clear_error(tmp_path):
    with pytest.raises(ClipSourceError, match="no data files found"):
        tedlium_segments(dataset_id="parquet", data_files=str(tmp_path / "nothing.parquet"))


# --- local folders --------------------------------------------------------------------------

def _librispeech() -> list[tuple[str, str, float]]:
    """(utterance id, text, seconds) read independently of the module under test."""
    lines = (LIBRI / "3752-4944.trans.txt").read_text().splitlines()
    utts = sorted(line.split(" ", 1) for line in lines if line.strip())
    return [(u, text, sf.info(str(LIBRI / f"{u}.flac")).duration) for u, text in utts]


@needs_libri
def test_librispeech_folder_segments():
    segments = local_folder_segments(LIBRI)
    utts = _librispeech()
    assert list(segments) == ["3752-4944"]
    chapter = segments["3752-4944"]
    assert [s.text for s in chapter] == [text for _, text, _ in utts]
    assert chapter[0].text == "CAPTAIN FRERE SAYS THAT THE SCENERY IS DELIGHTFUL"
    assert chapter[0].path.endswith("3752-4944-0000.flac") and not any(s.ignored for s in chapter)
    ends = np.cumsum([seconds for _, _, seconds in utts])
    assert [s.end_s for s in chapter] == pytest.approx(list(ends))
    assert all(a.end_s == b.start_s for a, b in zip(chapter, chapter[1:]))


@needs_libri
def test_librispeech_cache_round_trip_and_reuse(tmp_path, monkeypatch):
    built = build_clip_cache(str(LIBRI), tmp_path, per_bucket=2)
    assert [sum(c.bucket == name for c in built) for name in BUCKETS] == [2, 2, 2, 2]
    assert {c.source for c in built} == {"local:librispeech-dev-clean-3752-4944"}
    utts = _librispeech()
    starts = np.concatenate([[0.0], np.cumsum([seconds for _, _, seconds in utts])])
    for clip in built:
        low, high = BUCKETS[clip.bucket]
        assert low <= clip.duration_s <= high
        assert sf.info(clip.path).frames == round(clip.duration_s * SAMPLE_RATE)
        assert clip.duration_s == pytest.approx(clip.end_s - clip.start_s, abs=1e-3)
        i, j = int(np.argmin(abs(starts - clip.start_s))), int(np.argmin(abs(starts - clip.end_s)))
        assert clip.reference == " ".join(text for _, text, _ in utts[i:j])
    sixty = next(c for c in built if c.bucket == "60s")
    first = sf.read(str(LIBRI / f"{utts[int(np.argmin(abs(starts - sixty.start_s)))][0]}.flac"), dtype="float32")[0]
    assert np.allclose(sixty.load_audio()[: first.shape[0]], first, atol=1e-3)  # joined audio, no gap

    assert load_manifest(tmp_path) == built
    record = json.loads((tmp_path / "manifest.jsonl").read_text().splitlines()[0])
    assert set(record) == {"clip_id", "path", "reference", "duration_s", "bucket", "talk", "start_s", "end_s",
                           "source"}
    assert record["path"] == f"{record['bucket']}/{record['clip_id']}.flac"

    stamps = {c.path: Path(c.path).stat().st_mtime_ns for c in built}
    monkeypatch.setattr(clips, "segments_from_source", lambda *a, **k: pytest.fail("cache was not reused"))
    assert build_clip_cache(str(LIBRI), tmp_path, per_bucket=2) == built
    monkeypatch.undo()
    more = build_clip_cache(str(LIBRI), tmp_path, per_bucket=3)  # new settings: rebuilt, old files kept
    assert len(more) == 12 and set(stamps) <= {c.path for c in more}
    assert {p: Path(p).stat().st_mtime_ns for p in stamps} == stamps


def _tone_files(folder: Path, seconds: dict[str, float]) -> None:
    for name, length in seconds.items():  # 8 kHz WAV: the cache resamples to 16 kHz
        sf.write(str(folder / name), _tone(length, 250, sr=8000), 8000)


def test_csv_manifest_folder(tmp_path):
    _tone_files(tmp_path, {"a.wav": 2.0, "b.wav": 3.0, "c.wav": 4.0})
    (tmp_path / "manifest.csv").write_text(
        "path,text,recording\na.wav,alpha,r1\nb.wav,beta,r1\nc.wav,it 's gamma,r2\n")
    segments = local_folder_segments(tmp_path)
    assert [(s.recording, s.start_s, s.end_s, s.text) for s in segments["r1"] + segments["r2"]] == [
        ("r1", 0.0, 2.0, "alpha"), ("r1", 2.0, 5.0, "beta"), ("r2", 0.0, 4.0, "it 's gamma")]
    built = build_clip_cache(str(tmp_path), tmp_path / "cache", {"5s": (3.0, 7.0)})
    assert [(c.talk, c.start_s, c.duration_s, c.reference) for c in built] == [
        ("r1", 0.0, 5.0, "alpha beta"), ("r1", 2.0, 3.0, "beta"), ("r2", 0.0, 4.0, "it's gamma")]
    assert sf.info(built[0].path).samplerate == SAMPLE_RATE


def test_jsonl_manifest_folder_defaults_to_one_recording(tmp_path):
    folder = tmp_path / "calls"
    (folder / "audio").mkdir(parents=True)
    _tone_files(folder / "audio", {"x.wav": 1.5, "y.wav": 2.5})
    lines = [{"path": "audio/y.wav", "text": "why"}, {"path": "audio/x.wav", "text": "ex"}]
    (folder / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    segments = segments_from_source(str(folder))
    assert [(s.recording, s.start_s, s.end_s, s.text) for s in segments["calls"]] == [
        ("calls", 0.0, 2.5, "why"), ("calls", 2.5, 4.0, "ex")]  # file order, not name order


def test_folder_errors_are_clear(tmp_path):
    with pytest.raises(ClipSourceError, match=r"no transcripts; add LibriSpeech-style \*\.trans\.txt"):
        local_folder_segments(tmp_path)
    with pytest.raises(ClipSourceError, match="neither 'tedlium' nor an existing folder"):
        segments_from_source(str(tmp_path / "missing"))
    with pytest.raises(ClipSourceError, match="only apply to the 'tedlium' source"):
        segments_from_source(str(tmp_path), config="release3")
    (tmp_path / "manifest.csv").write_text("path,text\nmissing.wav,hello\n")
    with pytest.raises(ClipSourceError, match="missing.wav named in .* does not exist"):
        local_folder_segments(tmp_path)
    with pytest.raises(ClipSourceError, match="no clip cache at"):
        load_manifest(tmp_path / "nocache")


# --- local folders stay inside themselves --------------------------------------------------

MANIFEST_OUTSIDE = ("row 1 of manifest.csv points outside its folder; give the audio file's path relative to "
                    "the folder, without '..'.")
LINK_FIX = "points outside its folder; copy the file into the folder instead of linking to it."


def _refusal(folder: Path, tmp_path: Path) -> str:
    with pytest.raises(ClipSourceError) as caught:
        local_folder_segments(folder)
    message = str(caught.value)
    assert str(tmp_path) not in message and "/tmp" not in message  # named inside the folder, not on the server
    return message


@pytest.mark.parametrize("given", ["ABSOLUTE", "../secret.wav", "audio/../../secret.wav", "link.wav"])
def test_manifest_paths_leading_out_of_the_folder_are_refused(tmp_path, given):
    _tone_files(tmp_path, {"secret.wav": 1.0})
    folder = tmp_path / "set"
    (folder / "audio").mkdir(parents=True)
    (folder / "link.wav").symlink_to(tmp_path / "secret.wav")
    given = str(tmp_path / "secret.wav") if given == "ABSOLUTE" else given
    (folder / "manifest.csv").write_text(f"path,text\n{given},hello\n")
    assert _refusal(folder, tmp_path) == MANIFEST_OUTSIDE


def test_manifest_paths_inside_the_folder_may_use_dots_and_links(tmp_path):
    folder = tmp_path / "set"
    (folder / "audio").mkdir(parents=True)
    _tone_files(folder, {"a.wav": 1.0})
    (folder / "audio" / "b.wav").symlink_to(folder / "a.wav")
    (folder / "manifest.csv").write_text("path,text\naudio/../a.wav,one\naudio/b.wav,two\n")
    segments = local_folder_segments(folder)["set"]
    assert [(s.text, s.end_s) for s in segments] == [("one", 1.0), ("two", 2.0)]


def test_a_linked_manifest_leading_out_is_refused(tmp_path):
    _tone_files(tmp_path, {"a.wav": 1.0})
    (tmp_path / "manifest.csv").write_text("path,text\na.wav,hello\n")
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "manifest.csv").symlink_to(tmp_path / "manifest.csv")
    assert _refusal(folder, tmp_path) == f"manifest.csv {LINK_FIX}"


def test_librispeech_audio_linked_out_of_the_folder_is_refused(tmp_path):
    outside = librispeech_folder(tmp_path / "outside")
    folder = librispeech_folder(tmp_path / "ls")
    (folder / "1-2-0001.flac").unlink()
    (folder / "1-2-0001.flac").symlink_to(outside / "1-2-0001.flac")
    assert _refusal(folder, tmp_path) == f"the audio of utterance 1-2-0001 in 1-2.trans.txt {LINK_FIX}"


def test_librispeech_ids_and_transcripts_leading_out_are_refused(tmp_path):
    librispeech_folder(tmp_path / "outside")
    folder = tmp_path / "ls"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "1-2.trans.txt").write_text("../../outside/1-2-0000 SECRET\n")
    assert _refusal(folder, tmp_path) == ("the audio of utterance ../../outside/1-2-0000 in sub/1-2.trans.txt "
                                          + LINK_FIX)
    (folder / "sub" / "1-2.trans.txt").unlink()
    (folder / "sub" / "1-2.trans.txt").symlink_to(tmp_path / "outside" / "1-2.trans.txt")
    assert _refusal(folder, tmp_path) == f"sub/1-2.trans.txt {LINK_FIX}"


def test_linked_sub_folders_are_not_searched(tmp_path):
    librispeech_folder(tmp_path / "outside" / "chapter")
    folder = librispeech_folder(tmp_path / "ls", n=3)
    (folder / "more").symlink_to(tmp_path / "outside", target_is_directory=True)
    segments = local_folder_segments(folder)
    assert [Path(s.path).name for s in segments["1-2"]] == ["1-2-0000.flac", "1-2-0001.flac", "1-2-0002.flac"]
    assert all(Path(s.path).parent == folder.resolve() for s in segments["1-2"])
    only_linked = tmp_path / "only-linked"
    only_linked.mkdir()
    (only_linked / "more").symlink_to(tmp_path / "outside", target_is_directory=True)
    assert _refusal(only_linked, tmp_path).startswith("folder only-linked has no transcripts;")


def test_folder_errors_name_files_inside_the_folder(tmp_path):
    folder = librispeech_folder(tmp_path / "ls")
    (folder / "1-2-0001.flac").unlink()
    assert _refusal(folder, tmp_path) == ("no audio file for utterance 1-2-0001 of 1-2.trans.txt; put "
                                          "1-2-0001.flac (or .wav) next to that .trans.txt file.")
    (folder / "1-2-0001.flac").write_bytes(b"not audio")
    assert _refusal(folder, tmp_path) == "could not read audio file 1-2-0001.flac; use FLAC or WAV files."
    (folder / "manifest.jsonl").write_text('{"path": "1-2-0000.flac"}\n[]\n')
    assert _refusal(folder, tmp_path) == "line 2 of manifest.jsonl is not a JSON object; fix or remove it."
    (folder / "manifest.jsonl").write_text('{"path": "1-2-0000.flac"}\n')
    assert _refusal(folder, tmp_path) == "row 1 of manifest.jsonl lacks a path or a text; give every row both."


def test_clip_cache_dir_default_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv(clips.CACHE_DIR_ENV, raising=False)
    assert clips.default_cache_dir(tmp_path) == tmp_path / ".clip_cache"
    monkeypatch.setenv(clips.CACHE_DIR_ENV, str(tmp_path / "x"))
    assert clips.default_cache_dir(tmp_path) == tmp_path / "x"


@pytest.mark.parametrize("name, content", [("1-2.trans.txt", "1-2-0000 CAFÉ\n"),
                                           ("manifest.csv", "path,text\n1-2-0000.flac,CAFÉ\n")])
def test_a_transcript_or_manifest_that_is_not_utf8_is_one_sentence(tmp_path, name, content):
    folder = librispeech_folder(tmp_path / "ls")
    (folder / name).write_bytes(content.encode("latin-1"))
    with pytest.raises(ClipSourceError) as err:
        clips.local_folder_segments(folder)
    assert str(err.value) == f"{name} is not UTF-8 text; save it as UTF-8 text."
