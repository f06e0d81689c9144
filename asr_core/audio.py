"""Audio decoding: any file or bytes to 16 kHz mono float32, with clear errors for bad input."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16000
MAX_DURATION_S_DEFAULT = 600.0  # 10 minutes: longer uploads are refused, not silently truncated
MIN_DURATION_S = 0.1  # shorter clips are refused: a few samples padded to a 30 s window would make figures per
# audio second meaningless (a 1-sample clip showed a million joules per second of audio)
MAX_FILE_BYTES = 1 << 30  # 1 GiB: a file whose header gives no duration is refused above this, before reading
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".webm")
DECODE_FIX = "use WAV, FLAC, MP3 or OGG (M4A needs ffmpeg installed)"



def load_audio(source: str | os.PathLike | bytes, max_duration_s: float | None = MAX_DURATION_S_DEFAULT,
               name: str | None = None) -> np.ndarray:
    """Decode a file path or raw bytes to 16 kHz mono float32 in [-1, 1].

    Too long or too large input is refused from the file's header and size, before any sample is read.
    """
    label = name or (f"'{source}'" if not isinstance(source, bytes) else "the uploaded audio")
    if isinstance(source, bytes):
        if not source:
            raise AudioError(f"{label} is empty (0 bytes): choose another file.")
        _check_duration(_header_duration_s(io.BytesIO(source)), label, max_duration_s)
        data = source
    else:
        data = _read_file(Path(source), label, max_duration_s)
    try:
        with warnings.catch_warnings():
            # librosa and audioread warn (fallbacks, deprecations) on the way to failing; our error says what matters
            warnings.simplefilter("ignore")
            audio, sr = _decode(data, label)
            audio = _to_mono_16k(audio, sr, label, max_duration_s)
    except MemoryError:
        raise AudioError(f"Audio file {label} is too large to decode in this machine's memory: cut it into "
                         f"shorter files.") from None
    return audio


def _read_file(path: Path, label: str, max_duration_s: float | None) -> bytes:
    """The file's bytes, once its header (or, without a readable header, its size) says it is not too long."""
    try:
        if not path.exists():
            raise AudioError(f"Audio file {label} does not exist: check the path.")
        if path.is_dir():
            raise AudioError(f"{label} is a folder, not an audio file.")
        size = path.stat().st_size
        if size == 0:
            raise AudioError(f"Audio file {label} is empty (0 bytes): choose another file.")
        header_s = _header_duration_s(path)
        _check_duration(header_s, label, max_duration_s)
        if header_s is None and size > MAX_FILE_BYTES:
            raise AudioError(f"Audio file {label} is {size / 2**30:.1f} GiB, over the {MAX_FILE_BYTES / 2**30:.0f} "
                             f"GiB limit for files whose length cannot be read from their header: cut it, or "
                             f"convert it to FLAC.")
        return path.read_bytes()
    except OSError as exc:  # PermissionError, an unreadable disk, a vanished network share
        raise AudioError(f"Could not read audio file {label} ({exc.strerror or type(exc).__name__}): check that "
                         f"it is readable.") from None


def _header_duration_s(source: str | os.PathLike | BinaryIO) -> float | None:
    """Seconds of audio the header promises (WAV, FLAC, OGG, and MP3 on recent libsndfile); None if unreadable."""
    import soundfile as sf
    try:
        info = sf.info(source)
    except Exception:  # noqa: BLE001 - not a format libsndfile reads (m4a), or damaged: decoding will say
        return None
    return info.frames / info.samplerate if info.samplerate > 0 else None


def _check_duration(seconds: float | None, label: str, max_duration_s: float | None) -> None:
    if seconds is not None and max_duration_s is not None and seconds > max_duration_s:
        raise AudioError(f"Audio file {label} lasts {_span(seconds)}, over the limit of {_span(max_duration_s)}: "
                         f"cut it or raise --max-duration.")


def _span(seconds: float) -> str:
    return f"{seconds:.3g} seconds" if seconds < 60 else f"{seconds / 60:.1f} minutes"


def _to_mono_16k(audio: np.ndarray, sr: int, label: str, max_duration_s: float | None) -> np.ndarray:
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.size == 0:
        raise AudioError(f"Audio file {label} holds no samples: choose another file.")
    _check_duration(audio.shape[0] / sr, label, max_duration_s)
    if audio.shape[0] < MIN_DURATION_S * sr:
        raise AudioError(f"Audio file {label} lasts {audio.shape[0] / sr:.2g} s, too short to measure: use a clip of "
                         f"at least {MIN_DURATION_S:g} s.")
    if sr != SAMPLE_RATE:
        import librosa
        audio = librosa.resample(audio, orig_sr=sr, target_sr=SAMPLE_RATE)
    return np.nan_to_num(audio.astype(np.float32, copy=False))


def _decode(data: bytes, label: str) -> tuple[np.ndarray, int]:
    import soundfile as sf
    try:
        audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
        return audio, int(sr)
    except MemoryError:  # a subclass of Exception, but not a decoding failure
        raise
    except Exception:  # noqa: BLE001 - libsndfile refuses m4a and some mp3s; try librosa/audioread
        pass
    try:
        import librosa
        import tempfile
        with tempfile.NamedTemporaryFile(suffix=".audio") as tmp:
            tmp.write(data)
            tmp.flush()
            audio, sr = librosa.load(tmp.name, sr=None, mono=True)
        return audio.astype(np.float32), int(sr)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise AudioError(f"Could not decode {label} as audio ({type(exc).__name__}): {DECODE_FIX}.") from None


def duration_s(audio: np.ndarray) -> float:
    return float(audio.shape[0]) / SAMPLE_RATE


def split_long(audio: np.ndarray, window_s: float, search_s: float = 2.0) -> list[np.ndarray]:
    """Cut audio longer than window_s into pieces of at most window_s, each cut placed at the
    quietest 20 ms frame in the last search_s seconds of the window so words are rarely split."""
    window = int(window_s * SAMPLE_RATE)
    if audio.shape[0] <= window:
        return [audio]
    pieces, start = [], 0
    while audio.shape[0] - start > window:
        cut = quietest_sample(audio, start + window - int(search_s * SAMPLE_RATE), start + window)
        pieces.append(audio[start:cut])
        start = cut
    pieces.append(audio[start:])
    return pieces


def quietest_sample(audio: np.ndarray, lo: int, hi: int) -> int:
    """The middle sample of the quietest 20 ms frame of audio[lo:hi] (lo when the span holds no whole frame):
    where a cut is least likely to split a word."""
    frame = SAMPLE_RATE // 50
    seg = audio[lo:hi]
    n = seg.shape[0] // frame
    if n == 0:
        return lo
    energy = (seg[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    return lo + int(np.argmin(energy)) * frame + frame // 2
