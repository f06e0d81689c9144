"""Where the app's audio and models come from: the clip cache, local sample folders, checkpoints.

Paths are resolved against the repository root the app passes in; ``../shared`` (sample speech
and checkpoints beside the repository) is optional and simply not offered when absent.

Sample folders are confined to an allow-list of roots: ``../shared/speech``, the folders the operator
names in ``$ASR_SAMPLE_FOLDERS`` and the clip cache (once built). A folder outside them, one that does not exist and
one reached through a link that leads out all get the same refusal, so the app never tells a visitor
which server folders exist, and its messages name folders by their root's name, never by server path.
A root that would open every folder (the file system's root, a folder above the home folder) is never one; an
operator's entry that is left out is explained once in the server's log.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from asr_core.buckets import bucket_seconds
from asr_core.clips import (FOLDER_MANIFESTS, MANIFEST, TRANSCRIPTS, Clip, default_cache_dir, load_manifest,
                            local_folder_segments)
from asr_core.errors import ClipSourceError
from asr_core.models import REGISTRY, looks_like_path

SHARED_DIR = "../shared"  # relative to the repository root
SHARED_SPEECH = "speech"  # under SHARED_DIR: sample speech, one folder per set
SAMPLE_FOLDERS_ENV = "ASR_SAMPLE_FOLDERS"  # more roots for sample folders, os.pathsep-separated
MAX_SAMPLE_FOLDERS = 100  # folders listed at most, over all roots
MAX_FOLDER_DEPTH = 3  # how far below a root transcribed folders are looked for
MAX_FOLDERS_SCANNED = 2000  # folders looked into at most per root, so a huge root cannot stall the page
FOLDER_REFUSED = (f"That folder is not one this app may read: choose one of the listed folders, or ask the "
                  f"operator to add it to {SAMPLE_FOLDERS_ENV}.")
CACHE_UNREADABLE = ("The clip cache cannot be read: delete it and build it again with "
                    "`asr-profile prefetch`.")
UPLOAD_TYPES = ("wav", "flac", "mp3", "ogg", "m4a")
LABEL_WORDS = 8  # words of the reference shown in a clip's label
# sample folders of ../shared/speech shown by name in the folder picker
KNOWN_FOLDERS = {"ted-talk-samples": "TED talk samples",
                 "librispeech-dev-clean-3752-4944": "LibriSpeech dev-clean (read speech, speaker 3752)"}
MODEL_NAME = "model_name"  # a table's column of model_label: a registry id, or a local folder's name

log = logging.getLogger(__name__)
_explained: set[str] = set()  # operator settings already explained in the log, once per server process


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
        raise ClipSourceError(CACHE_UNREADABLE) from None  # load_manifest's message names server paths


def cache_name(cache_dir: str | os.PathLike, root: str | os.PathLike) -> str:
    """'the clip cache', with its path only when that is inside the repository (then relative to it)."""
    cache, repo = Path(cache_dir).resolve(), Path(root).resolve()
    return f"the clip cache `{cache.relative_to(repo).as_posix()}`" if cache.is_relative_to(repo) else "the clip cache"


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


def sample_roots(root: str | os.PathLike) -> list[Path]:
    """The folders sample folders may come from, resolved: ../shared/speech, $ASR_SAMPLE_FOLDERS (see
    operator_folders), and the clip cache once it is built (it holds its manifest)."""
    roots = [real_folder(Path(root) / SHARED_DIR / SHARED_SPEECH), *operator_folders(SAMPLE_FOLDERS_ENV, root),
             _clip_cache_root(root)]
    return list(dict.fromkeys(r for r in roots if r is not None))


def operator_folders(env: str, root: str | os.PathLike) -> list[Path]:
    """The folders an operator names in $env (os.pathsep-separated), resolved: ``~`` expanded, relative entries
    taken from the repository root. An entry that is not an existing folder, or that would open every folder
    (too_broad), is left out and explained once in the server's log."""
    found = []
    for entry in filter(None, (e.strip() for e in os.environ.get(env, "").split(os.pathsep))):
        real = real_folder(Path(root) / Path(entry).expanduser())
        if real is None:
            explain_once(f"{env}: {entry!r} is not an existing folder, so it is left out.")
        elif too_broad(real):
            explain_once(f"{env}: {entry!r} would open every folder of this machine, so it is left out: name the "
                         f"folder that holds what the app may read.")
        else:
            found.append(real)
    return found


def too_broad(folder: Path) -> bool:
    """The file system's root or a folder above the home folder: as an allowed root it would open every folder."""
    home = Path.home().resolve()
    return folder == Path(folder.anchor) or (folder != home and home.is_relative_to(folder))


def explain_once(message: str) -> None:
    """A problem with the operator's settings, logged once per server process (a visitor never sees it)."""
    if message not in _explained:
        _explained.add(message)
        log.warning(message)


def _clip_cache_root(root: str | os.PathLike) -> Path | None:
    """The clip cache as an allowed root: a built one ($ASR_CLIP_CACHE=/ holds no manifest), never too broad."""
    cache = real_folder(default_cache_dir(root))
    if cache is None or not (cache / MANIFEST).is_file():
        return None
    if too_broad(cache):
        explain_once("ASR_CLIP_CACHE would open every folder of this machine, so sample folders are not read from "
                     "it: point it at the clip cache's own folder.")
        return None
    return cache


def sample_folders(root: str | os.PathLike) -> list[Path]:
    """Folders with transcripts under the allowed roots (see sample_roots), bounded in depth and count."""
    cache = real_folder(default_cache_dir(root))  # its manifest lists clips, not utterances
    found = (f for r in sample_roots(root) for f in found_folders(r, _has_transcripts, MAX_FOLDER_DEPTH,
                                                                  MAX_SAMPLE_FOLDERS) if f != cache)
    return list(dict.fromkeys(found))[:MAX_SAMPLE_FOLDERS]


def allowed_folder(folder: str | os.PathLike, root: str | os.PathLike) -> Path:
    """The real path of a folder inside an allowed root (relative paths start at the repository root).

    Anything else raises ClipSourceError(FOLDER_REFUSED), the same sentence whatever the reason.
    """
    real = real_folder(Path(root) / Path(folder))
    if real is None or not any(real.is_relative_to(r) for r in sample_roots(root)):
        raise ClipSourceError(FOLDER_REFUSED)
    return real


def folder_label(folder: str | os.PathLike, root: str | os.PathLike) -> str:
    """A sample folder by a known name ('TED talk samples') or as its root's name and the path below it:
    'speech/librispeech-dev-clean'."""
    real = Path(folder).resolve()
    if real.name in KNOWN_FOLDERS:
        return KNOWN_FOLDERS[real.name]
    base = next((r for r in sample_roots(root) if real.is_relative_to(r)), real.parent)
    return (Path(base.name) / real.relative_to(base)).as_posix()


def public_message(message: str, root: str | os.PathLike) -> str:
    """message with server paths of the repository and the allowed roots replaced as folder_label shows them."""
    names = {str(r): r.name for r in sample_roots(root) if r.name} | {str(Path(root).resolve()): ""}
    for base in sorted(names, key=len, reverse=True):  # a root inside the repository before the repository
        below = names[base] + "/" if names[base] else ""
        message = message.replace(base + os.sep, below).replace(base, names[base] or "the repository")
    return message


def real_folder(path: Path) -> Path | None:
    """path with every link followed, or None when it is not an existing folder."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a link loop, a NUL in the name
        return None
    return real if real.is_dir() else None


def found_folders(top: Path, wanted: Callable[[Path], bool], max_depth: int, limit: int) -> list[Path]:
    """Folders under top (top included) that are wanted (transcribed, a checkpoint), breadth first, at most limit,
    at most max_depth below top, at most MAX_FOLDERS_SCANNED looked into.

    Linked folders are not entered (they may lead out of top), nor are folders below a wanted one.
    """
    found, queue, scanned = [], [(top, 0)], 0
    while queue and len(found) < limit and scanned < MAX_FOLDERS_SCANNED:
        folder, depth = queue.pop(0)
        scanned += 1
        if wanted(folder):
            found.append(folder)
        elif depth < max_depth:
            queue += [(sub, depth + 1) for sub in _subfolders(folder)]
    return found


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:  # unreadable: nothing to offer below it
        return []


def _has_transcripts(folder: Path) -> bool:
    manifest = any((folder / name).is_file() for name in FOLDER_MANIFESTS)
    return manifest or next(folder.glob(TRANSCRIPTS), None) is not None


def model_label(model_id: str) -> str:
    """Registry and hub ids as they are; a local folder by its folder name, 'name (local)', never its path."""
    if model_id in REGISTRY or not looks_like_path(model_id):
        return model_id
    return f"{Path(model_id.rstrip('/')).name or model_id} (local)"


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

