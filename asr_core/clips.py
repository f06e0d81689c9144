"""Clips by length bucket for profiling ASR models, from TED-LIUM 3 dev or from a local folder.

A clip is a run of consecutive *scored* segments of one recording (a TED talk, a LibriSpeech
chapter): their audio joined with no gap, their texts joined by a space. An ignored segment
(TED-LIUM ``ignore_time_segment_in_scoring``) ends a run, so no clip spans one. Clips are written
once as FLAC under ``<cache>/<bucket>/<clip_id>.flac`` next to ``<cache>/manifest.jsonl``; later
builds with the same settings only read the manifest and never touch the network.

Choice of clips: every window of consecutive segments whose duration falls in a bucket is a
candidate; ``random.Random(f"{seed}:{bucket}")`` shuffles them, clips that share no segment are
taken first, and only when too few disjoint clips exist are overlapping ones added (never the same
window twice). A small source therefore gives fewer than ``per_bucket`` clips, some overlapping.
"""
from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .audio import SAMPLE_RATE, load_audio
from .buckets import BUCKETS
from .errors import ClipSourceError
from .segments import Segment, Window
from .tedlium import tedlium_segments

SEED = 42
PER_BUCKET = 8
CACHE_DIR_ENV = "ASR_CLIP_CACHE"  # the clip cache, for the CLI and the app alike
DEFAULT_CACHE_DIR = ".clip_cache"
TEDLIUM = "tedlium"  # the clip source spec that means TED-LIUM 3 dev from the hub
TEDLIUM_LABEL = "tedlium3-dev"
LOCAL_PREFIX = "local:"
MANIFEST = "manifest.jsonl"
SETTINGS = "settings.json"  # what the cache was built from, to know when it can be reused
FOLDER_MANIFESTS = ("manifest.csv", "manifest.jsonl")
TRANSCRIPTS = "*.trans.txt"
AUDIO_SUFFIXES = (".flac", ".wav")
UNK = "<unk>"
SPLIT_CONTRACTION = re.compile(r"(\w) '(\w)")  # TED-LIUM tokenises "it's" as "it 's"
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
SAME_AUDIO_TOLERANCE_S = 0.01
LINKED_FIX = "copy the file into the folder instead of linking to it"
MANIFEST_PATH_FIX = "give the audio file's path relative to the folder, without '..'"
NOT_UTF8_FIX = "save it as UTF-8 text"

@dataclass(frozen=True)
class Clip:
    """One cached clip: a FLAC file and its reference transcript."""

    clip_id: str
    path: str  # FLAC in the cache
    reference: str
    duration_s: float
    bucket: str
    talk: str
    start_s: float  # on the recording's timeline
    end_s: float
    source: str  # "tedlium3-dev" or "local:<folder name>"

    def load_audio(self) -> np.ndarray:
        return load_audio(self.path, max_duration_s=None)


def default_cache_dir(root: str | os.PathLike = ".") -> Path:
    """The clip cache: $ASR_CLIP_CACHE, else .clip_cache under root (the working folder by default)."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path(root) / DEFAULT_CACHE_DIR


def clean_reference(text: str) -> str:
    """TED-LIUM text to a plain reference: drop <unk>, rejoin "it 's" as "it's", collapse spaces."""
    joined = " ".join(token for token in text.split() if token != UNK)
    return SPLIT_CONTRACTION.sub(r"\1'\2", joined)


# --- choosing clips -------------------------------------------------------------------------

def scored_runs(segments: Sequence[Segment]) -> list[list[Segment]]:
    """Maximal runs of consecutive scored segments; ignored segments separate runs."""
    runs: list[list[Segment]] = [[]]
    for segment in segments:
        if segment.ignored:
            runs.append([])
        else:
            runs[-1].append(segment)
    return [run for run in runs if run]


def candidate_windows(segments_by_recording: Mapping[str, Sequence[Segment]],
                      low_s: float, high_s: float) -> list[Window]:
    """Every window of consecutive scored segments of one recording lasting low_s..high_s."""
    windows: list[Window] = []
    for recording in sorted(segments_by_recording):
        for run in scored_runs(segments_by_recording[recording]):
            for i in range(len(run)):
                total = 0.0
                for j in range(i, len(run)):
                    total += run[j].duration_s
                    if total > high_s:
                        break
                    if total >= low_s:
                        windows.append(tuple(run[i:j + 1]))
    return windows


def build_buckets(segments_by_recording: Mapping[str, Sequence[Segment]],
                  buckets: Mapping[str, tuple[float, float]] = BUCKETS, per_bucket: int = PER_BUCKET,
                  seed: int = SEED) -> dict[str, list[Window]]:
    """Up to per_bucket windows per bucket, chosen deterministically from seed (see module doc)."""
    if per_bucket < 1:
        raise ValueError(f"per_bucket must be at least 1, got {per_bucket}")
    return {name: _pick(candidate_windows(segments_by_recording, low, high), per_bucket,
                        random.Random(f"{seed}:{name}"))
            for name, (low, high) in buckets.items()}


def _pick(windows: list[Window], per_bucket: int, rng: random.Random) -> list[Window]:
    order = rng.sample(range(len(windows)), len(windows))
    chosen: list[int] = []
    used: set[Segment] = set()
    for i in order:  # first pass: clips that share no segment
        if len(chosen) < per_bucket and used.isdisjoint(windows[i]):
            chosen.append(i)
            used.update(windows[i])
    taken = set(chosen)
    spare = [i for i in order if i not in taken]
    chosen += spare[:per_bucket - len(chosen)]  # pool too small: allow overlap
    return sorted((windows[i] for i in chosen), key=_window_key)


def _window_key(window: Window) -> tuple[str, float, float]:
    return window[0].recording, window[0].start_s, window[-1].end_s


# --- sources --------------------------------------------------------------------------------

def segments_from_source(source: str, **tedlium_kwargs: Any) -> dict[str, list[Segment]]:
    """Segments of "tedlium" (keyword options go to tedlium_segments) or of a local folder.

    Options whose value is None are dropped, so a CLI can pass its optional flags straight on.
    """
    options = {key: value for key, value in tedlium_kwargs.items() if value is not None}
    if source == TEDLIUM:
        return tedlium_segments(**options)
    if options:
        raise ClipSourceError(f"TED-LIUM options ({', '.join(sorted(options))}) only apply to the "
                              f"'{TEDLIUM}' source, not to the folder {source}; drop them.")
    return local_folder_segments(source)


def source_label(source: str) -> str:
    """The label clips carry: "tedlium3-dev" or "local:<folder name>"."""
    return TEDLIUM_LABEL if source == TEDLIUM else LOCAL_PREFIX + Path(source).resolve().name


def local_folder_segments(folder: str | os.PathLike) -> dict[str, list[Segment]]:
    """Segments of a folder: a manifest.csv/manifest.jsonl, else LibriSpeech *.trans.txt files.

    A LibriSpeech recording is the utterance id minus its last "-NNNN" part (the chapter), its
    utterances ordered by id. A manifest has columns path and text and an optional recording
    (default: the folder name), rows kept in file order. Times are cumulative within a recording.
    Every file read must lie inside the folder once links are followed (linked sub-folders are not
    searched); errors name files relative to the folder.
    """
    if not Path(folder).is_dir():
        raise ClipSourceError(f"clip source {folder} is neither '{TEDLIUM}' nor an existing folder; "
                              f"pass '{TEDLIUM}' or a folder of audio with transcripts.")
    root = Path(folder).resolve()
    for name in FOLDER_MANIFESTS:
        if (root / name).is_file():
            return _timelines(root, _manifest_rows(root, _inside(root, root / name)))
    transcripts = _transcripts(root)
    if not transcripts:
        raise ClipSourceError(f"folder {root.name} has no transcripts; add LibriSpeech-style *.trans.txt "
                              f"files or a manifest.csv / manifest.jsonl with path and text columns.")
    return _timelines(root, _librispeech_rows(root, transcripts))


def _transcripts(root: Path) -> list[Path]:
    """The *.trans.txt files under root, each inside it; linked folders are not entered."""
    found = []
    for folder, _, names in os.walk(root):  # followlinks=False: a linked folder may lead anywhere
        found += [Path(folder) / name for name in names if fnmatch.fnmatch(name, TRANSCRIPTS)]
    return [_inside(root, path) for path in sorted(found)]


def _inside(root: Path, path: Path, what: str = "", fix: str = LINKED_FIX) -> Path:
    """path when it stays inside root (a resolved folder) once links are followed; else ClipSourceError."""
    try:
        inside = path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a link loop
        inside = False
    if not inside:
        raise ClipSourceError(f"{what or _relative(root, path)} points outside its folder; {fix}.")
    return path


def _relative(root: Path, path: Path) -> str:
    """path (built under root) as the folder's users name it."""
    return path.relative_to(root).as_posix()


def _librispeech_rows(root: Path, transcripts: Sequence[Path]) -> dict[str, list[tuple[Path, str]]]:
    utterances: list[tuple[str, Path, str]] = []
    for transcript in transcripts:
        for line in _text(root, transcript).splitlines():
            utt_id, _, text = line.strip().partition(" ")
            if utt_id:
                utterances.append((utt_id, _utterance_audio(root, transcript, utt_id), text))
    rows: dict[str, list[tuple[Path, str]]] = {}
    for utt_id, path, text in sorted(utterances):
        rows.setdefault(utt_id.rsplit("-", 1)[0], []).append((path, text))
    return rows


def _utterance_audio(root: Path, transcript: Path, utt_id: str) -> Path:
    for suffix in AUDIO_SUFFIXES:
        path = _inside(root, transcript.parent / (utt_id + suffix),
                       f"the audio of utterance {utt_id} in {_relative(root, transcript)}")
        if path.is_file():
            return path
    raise ClipSourceError(f"no audio file for utterance {utt_id} of {_relative(root, transcript)}; put "
                          f"{utt_id}.flac (or .wav) next to that .trans.txt file.")


def _text(root: Path, path: Path) -> str:
    """A transcript or manifest file of a folder as text; ClipSourceError naming it when it is not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")  # newlines as written: a quoted CSV field may hold one
    except UnicodeDecodeError:
        raise ClipSourceError(f"{_relative(root, path)} is not UTF-8 text; {NOT_UTF8_FIX}.") from None
    except OSError as exc:
        raise ClipSourceError(f"{_relative(root, path)} could not be read ({exc.strerror or type(exc).__name__}); "
                              f"check that it is readable.") from None


def _manifest_rows(root: Path, manifest: Path) -> dict[str, list[tuple[Path, str]]]:
    text = _text(root, manifest)
    if manifest.suffix == ".csv":
        records = list(csv.DictReader(io.StringIO(text, newline="")))
    else:
        records = [_json_line(line, Path(manifest.name), n) for n, line in enumerate(text.splitlines(), 1)
                   if line.strip()]
    rows: dict[str, list[tuple[Path, str]]] = {}
    for n, record in enumerate(records, 1):
        if not record.get("path") or record.get("text") is None:
            raise ClipSourceError(f"row {n} of {manifest.name} lacks a path or a text; give every row both.")
        given = Path(str(record["path"]))
        row = f"row {n} of {manifest.name}"
        if given.is_absolute():
            raise ClipSourceError(f"{row} points outside its folder; {MANIFEST_PATH_FIX}.")
        path = _inside(root, root / given, row, MANIFEST_PATH_FIX)
        if not path.is_file():
            raise ClipSourceError(f"audio file {given.as_posix()} named in {row} does not exist; fix the path.")
        rows.setdefault(str(record.get("recording") or root.name), []).append((path, str(record["text"])))
    return rows


def _json_line(line: str, manifest: Path, n: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        raise ClipSourceError(f"line {n} of {manifest} is not a JSON object; fix or remove it.")
    return record


def _timelines(root: Path, rows: Mapping[str, Sequence[tuple[Path, str]]]) -> dict[str, list[Segment]]:
    segments: dict[str, list[Segment]] = {}
    for recording, items in rows.items():
        start, segments[recording] = 0.0, []
        for path, text in items:
            end = start + _file_duration_s(path, _relative(root, path))
            segments[recording].append(Segment(recording, start, end, text, path=str(path)))
            start = end
    return segments


def _file_duration_s(path: Path, name: str) -> float:
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError):  # libsndfile's errors are RuntimeErrors
        raise ClipSourceError(f"could not read audio file {name}; use FLAC or WAV files.") from None
    return info.frames / info.samplerate


# --- the cache ------------------------------------------------------------------------------

def build_clip_cache(source: str, cache_dir: str | os.PathLike,
                     buckets: Mapping[str, tuple[float, float]] = BUCKETS, per_bucket: int = PER_BUCKET,
                     seed: int = SEED, **tedlium_kwargs: Any) -> list[Clip]:
    """Clips of source by bucket, written once to cache_dir; reused as is when settings match."""
    cache = Path(cache_dir).resolve()
    settings = _settings(source, buckets, per_bucket, seed, tedlium_kwargs)
    if _cache_matches(cache, settings):
        return load_manifest(cache)
    chosen = build_buckets(segments_from_source(source, **tedlium_kwargs), buckets, per_bucket, seed)
    label = source_label(source)
    clips = [_write_clip(cache, bucket, window, label)
             for bucket, windows in chosen.items() for window in windows]
    if not clips:
        raise ClipSourceError(f"no run of utterances in {label} fits any bucket "
                              f"({', '.join(buckets)}); use a source with longer recordings.")
    _write_text(cache / MANIFEST, "".join(json.dumps(_manifest_record(c, cache)) + "\n" for c in clips))
    _write_text(cache / SETTINGS, json.dumps(settings, indent=1) + "\n")
    return clips


def load_manifest(cache_dir: str | os.PathLike) -> list[Clip]:
    """The clips listed in cache_dir/manifest.jsonl, with absolute paths."""
    cache = Path(cache_dir).resolve()
    manifest = cache / MANIFEST
    if not manifest.is_file():
        raise ClipSourceError(f"no clip cache at {cache}; build it first with `asr-profile prefetch`.")
    clips = []
    with manifest.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                record = _json_line(line, manifest, n)
                try:
                    clips.append(Clip(**{**record, "path": str(cache / record["path"])}))
                except (KeyError, TypeError):
                    raise ClipSourceError(f"line {n} of {manifest} is not a clip record; delete {cache} "
                                          f"and build the cache again.") from None
    return clips


def _settings(source: str, buckets: Mapping[str, tuple[float, float]], per_bucket: int, seed: int,
              tedlium_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    where = source if source == TEDLIUM else str(Path(source).resolve())
    options = {key: value for key, value in sorted(tedlium_kwargs.items()) if value is not None}
    settings = {"source": where, "buckets": dict(buckets), "per_bucket": per_bucket, "seed": seed,
                "options": options}
    return json.loads(json.dumps(settings, default=str))  # tuples -> lists, as read back


def _cache_matches(cache: Path, settings: dict[str, Any]) -> bool:
    try:
        saved = json.loads((cache / SETTINGS).read_text(encoding="utf-8"))
        clips = load_manifest(cache)
    except (OSError, ValueError):
        return False
    return saved == settings and all(Path(clip.path).is_file() for clip in clips)


def _clip_id(bucket: str, window: Window) -> str:
    talk = UNSAFE.sub("_", window[0].recording).strip("._") or "recording"
    return f"{bucket}_{talk}_{round(window[0].start_s * 100):07d}_{round(window[-1].end_s * 100):07d}"


def _write_clip(cache: Path, bucket: str, window: Window, label: str) -> Clip:
    clip_id = _clip_id(bucket, window)
    path = cache / bucket / f"{clip_id}.flac"
    expected_s = sum(segment.duration_s for segment in window)
    duration = _cached_duration_s(path)
    if duration is None or abs(duration - expected_s) > SAME_AUDIO_TOLERANCE_S:
        audio = np.clip(np.concatenate([segment.samples() for segment in window]), -1.0, 1.0)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.flac")
        sf.write(str(tmp), audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        os.replace(tmp, path)  # a crash never leaves half a clip under the final name
        duration = audio.shape[0] / SAMPLE_RATE
    return Clip(clip_id=clip_id, path=str(path), reference=clean_reference(" ".join(s.text for s in window)),
                duration_s=duration, bucket=bucket, talk=window[0].recording, start_s=window[0].start_s,
                end_s=window[-1].end_s, source=label)


def _cached_duration_s(path: Path) -> float | None:
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError):
        return None
    return info.frames / info.samplerate


def _manifest_record(clip: Clip, cache: Path) -> dict[str, Any]:
    return {**asdict(clip), "path": Path(clip.path).relative_to(cache).as_posix()}


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
