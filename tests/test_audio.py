"""Decoding audio: too long or too large input refused before any sample is read, and quiet failures."""
from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_core import audio
from asr_core.audio import MAX_FILE_BYTES, load_audio
from asr_core.errors import AudioError
from helpers import tone

CLAIMED_BYTES = 2_000_000_000  # a 16-bit mono 16 kHz WAV of 62,500 s: about what the 2.8 GB file held


def _wav_header(data_bytes: int, sr: int = 16000) -> bytes:
    """A 16-bit mono PCM WAV header whose data chunk claims data_bytes."""
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sr, 2 * sr, 2, 16) + b"data" + struct.pack("<I", data_bytes))


def _sparse(path: Path, head: bytes, size: int) -> Path:
    """A file of size bytes that takes no disk: head, then a hole."""
    with path.open("wb") as f:
        f.write(head)
        f.truncate(size)
    return path


@pytest.fixture
def never_read(monkeypatch):
    """Fail the test if any file's samples are read into memory."""
    def refuse(self):
        raise AssertionError(f"{self} was read")
    monkeypatch.setattr(Path, "read_bytes", refuse)


def test_a_huge_wav_is_refused_from_its_header(tmp_path, never_read):
    path = _sparse(tmp_path / "huge.wav", _wav_header(CLAIMED_BYTES), 44 + CLAIMED_BYTES)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(err.value) == (f"Audio file '{path}' lasts 1041.7 minutes, over the limit of 10.0 minutes: cut it "
                              f"or raise --max-duration.")


def test_a_huge_file_without_a_readable_header_is_refused_by_size(tmp_path, never_read):
    path = _sparse(tmp_path / "huge.m4a", b"\x00\x00\x00\x20ftypM4A ", MAX_FILE_BYTES + 2**27)
    with pytest.raises(AudioError) as err:
        load_audio(path, max_duration_s=None)
    assert str(err.value) == (f"Audio file '{path}' is 1.1 GiB, over the 1 GiB limit for files whose length cannot "
                              f"be read from their header: cut it, or convert it to FLAC.")


def test_too_long_bytes_are_refused_in_seconds(tmp_path):
    buf = io.BytesIO()
    sf.write(buf, np.zeros(16000 * 20, dtype=np.float32), 16000, format="WAV")
    with pytest.raises(AudioError) as err:
        load_audio(buf.getvalue(), max_duration_s=10, name="'upload.wav'")
    assert str(err.value) == ("Audio file 'upload.wav' lasts 20 seconds, over the limit of 10 seconds: cut it or "
                              "raise --max-duration.")


def test_out_of_memory_while_decoding_is_one_sentence(tmp_path, monkeypatch):
    path = tmp_path / "clip.wav"
    sf.write(path, tone(1.0), 16000)

    def no_memory(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(sf, "read", no_memory)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(err.value) == (f"Audio file '{path}' is too large to decode in this machine's memory: cut it into "
                              f"shorter files.")


def test_an_unreadable_file_is_one_sentence(tmp_path, monkeypatch):
    path = tmp_path / "locked.wav"
    sf.write(path, tone(1.0), 16000)

    def refuse(self):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(err.value) == f"Could not read audio file '{path}' (Permission denied): check that it is readable."


def test_corrupt_audio_fails_without_library_warnings(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(AudioError, match="Could not decode"):
            load_audio(path)
    assert [str(w.message) for w in caught] == []


def test_good_audio_within_the_limits_decodes(tmp_path):
    path = tmp_path / "stereo-8k.wav"
    sf.write(path, np.stack([tone(2.0)[::2], tone(2.0)[::2]], axis=1), 8000)
    out = load_audio(path, max_duration_s=2.0)
    assert out.dtype == np.float32 and out.shape == (32000,)
    assert audio._header_duration_s(path) == 2.0
