"""Audio decoding: any file or bytes to 16 kHz mono float32, with clear errors for bad input."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
MAX_DURATION_S_DEFAULT = 600.0  # 10 minutes: longer uploads are refused, not silently truncated
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".webm")


class AudioError(ValueError):
    """Input audio that cannot be used; the message names the file and what to do."""


def load_audio(source: str | os.PathLike | bytes, max_duration_s: float | None = MAX_DURATION_S_DEFAULT,
               name: str | None = None) -> np.ndarray:
    """Decode a file path or raw bytes to 16 kHz mono float32 in [-1, 1]."""
    label = name or (f"'{source}'" if not isinstance(source, bytes) else "the uploaded audio")
    if not isinstance(source, bytes):
        path = Path(source)
        if not path.exists():
            raise AudioError(f"Audio file {label} does not exist: check the path.")
        if path.is_dir():
            raise AudioError(f"{label} is a folder, not an audio file.")
        if path.stat().st_size == 0:
            raise AudioError(f"Audio file {label} is empty (0 bytes): choose another file.")
        data = path.read_bytes()
    else:
        data = source
        if not data:
            raise AudioError(f"{label} is empty (0 bytes): choose another file.")
    audio, sr = _decode(data, label)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.size == 0:
        raise AudioError(f"Audio file {label} holds no samples: choose another file.")
    duration = audio.shape[0] / sr
    if max_duration_s is not None and duration > max_duration_s:
        raise AudioError(f"Audio file {label} is {duration / 60:.1f} minutes long, over the "
                         f"{max_duration_s / 60:.0f}-minute limit: cut it or raise --max-duration.")
    if sr != SAMPLE_RATE:
        import librosa
        audio = librosa.resample(audio, orig_sr=sr, target_sr=SAMPLE_RATE)
    audio = np.nan_to_num(audio.astype(np.float32, copy=False))
    return audio


def _decode(data: bytes, label: str) -> tuple[np.ndarray, int]:
    import soundfile as sf
    try:
        audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
        return audio, int(sr)
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
    except Exception as exc:  # noqa: BLE001
        raise AudioError(f"Could not decode {label} as audio ({type(exc).__name__}): use WAV, FLAC, MP3 "
                         f"or OGG (M4A needs ffmpeg installed).") from None


def duration_s(audio: np.ndarray) -> float:
    return float(audio.shape[0]) / SAMPLE_RATE


def split_long(audio: np.ndarray, window_s: float, search_s: float = 2.0) -> list[np.ndarray]:
    """Cut audio longer than window_s into pieces of at most window_s, each cut placed at the
    quietest 20 ms frame in the last search_s seconds of the window so words are rarely split."""
    window = int(window_s * SAMPLE_RATE)
    if audio.shape[0] <= window:
        return [audio]
    frame = SAMPLE_RATE // 50
    pieces, start = [], 0
    while audio.shape[0] - start > window:
        lo = start + window - int(search_s * SAMPLE_RATE)
        seg = audio[lo:start + window]
        n = seg.shape[0] // frame
        energy = (seg[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
        cut = lo + int(np.argmin(energy)) * frame + frame // 2
        pieces.append(audio[start:cut])
        start = cut
    pieces.append(audio[start:])
    return pieces
