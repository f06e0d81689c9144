"""Where the app's audio and models come from: the clip cache, local sample folders, checkpoints.

Paths are resolved against the repository root the app passes in; ``../shared`` (sample speech
and checkpoints beside the repository) is optional and simply not offered when absent.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from asr_core.clips import MANIFEST, Clip, bucket_seconds, load_manifest, local_folder_segments
from asr_core.models import REGISTRY
from asr_core.segments import ClipSourceError

SHARED_DIR = "../shared"  # relative to the repository root
SPEECH_GLOB = "speech/*"
MODELS_GLOB = "models/*"
UPLOAD_TYPES = ("wav", "flac", "mp3", "ogg", "m4a")
LABEL_WORDS = 8  # words of the reference shown in a clip's label


@dataclass(frozen=True)
class Utterance:
    """One transcribed recording of a local sample folder."""

    utt_id: str
    path: str
    text: str
    duration_s: float


def cached_clips(cache_dir: str | os.PathLike) -> list[Clip]:
    """The cache's clips, or [] when no cache has been built there yet."""
    try:
        return load_manifest(cache_dir)
    except ClipSourceError:
        if not (Path(cache_dir) / MANIFEST).exists():
            return []
        raise


def clips_by_bucket(clips: list[Clip]) -> dict[str, list[Clip]]:
    """Clips grouped by bucket, buckets shortest first, clips by duration."""
    groups: dict[str, list[Clip]] = {}
    for clip in sorted(clips, key=lambda c: (bucket_seconds(c.bucket), c.duration_s, c.clip_id)):
        groups.setdefault(clip.bucket, []).append(clip)
    return groups


def short_text(text: str, words: int = LABEL_WORDS) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def clip_label(clip: Clip) -> str:
    return f"{clip.talk} · {clip.duration_s:.1f} s · {short_text(clip.reference)}"


def utterance_label(utt: Utterance) -> str:
    return f"{utt.utt_id} · {utt.duration_s:.1f} s · {short_text(utt.text)}"


def _shared(root: str | os.PathLike, pattern: str) -> list[Path]:
    shared = (Path(root) / SHARED_DIR).resolve()
    return sorted(p for p in shared.glob(pattern) if p.is_dir()) if shared.is_dir() else []


def sample_folders(root: str | os.PathLike) -> list[Path]:
    """Local speech folders beside the repository (../shared/speech/*), if any."""
    return _shared(root, SPEECH_GLOB)


def local_model_folders(root: str | os.PathLike) -> list[str]:
    """Checkpoint folders beside the repository (../shared/models/* with a config.json)."""
    return [str(p) for p in _shared(root, MODELS_GLOB) if (p / "config.json").is_file()]


def model_options(root: str | os.PathLike) -> list[str]:
    """Registry ids, then local checkpoint folders."""
    return [*REGISTRY, *local_model_folders(root)]


def model_label(model_id: str) -> str:
    """Registry ids as they are; local folders as 'name (local)'."""
    return model_id if model_id in REGISTRY or not Path(model_id).is_dir() else f"{Path(model_id).name} (local)"


def chosen_models(selected: list[str], other: str) -> list[str]:
    """The multiselect's models plus a typed id or folder, without repeats."""
    extra = [other.strip()] if other and other.strip() else []
    return list(dict.fromkeys([*selected, *extra]))


def folder_utterances(folder: str | os.PathLike) -> list[Utterance]:
    """Every utterance of a LibriSpeech-style folder (or one with a manifest), in order."""
    segments = local_folder_segments(folder)
    out = []
    for recording, segs in segments.items():
        for i, s in enumerate(segs):
            utt_id = Path(s.path).stem if s.path else f"{recording}-{i:04d}"
            out.append(Utterance(utt_id, s.path, s.text, s.duration_s))
    return out
