"""Converted engine files are checked before use: a damaged whisper.cpp or CTranslate2 conversion is one sentence
with the fix, never a measurement; leftovers of killed conversions go; a cache that cannot be used says so."""
from __future__ import annotations

import json
import shutil
import struct

import pytest

from asr_core.errors import ModelError
from asr_core.runtimes import load_model
from asr_core.runtimes.engine_files import record_file, record_path
from asr_core.runtimes.whispercpp import ggml_path

pytest.importorskip("_pywhispercpp", reason="pywhispercpp is not installed (pip install pywhispercpp)")
MODEL, WEIGHTS = "openai/whisper-tiny", "synthetic"
FIX = "delete it to convert the checkpoint again (it is in the folder ASR_GGML_CACHE names)."


def _load(precision: str = "q5_1", runtime: str = "whisper.cpp"):
    return load_model(MODEL, "cpu", precision, WEIGHTS, runtime=runtime)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """One whisper.cpp conversion (q5_1) with its record, made once and copied into each test's own cache."""
    cache = tmp_path_factory.mktemp("ggml-converted")
    mp = pytest.MonkeyPatch()
    mp.setenv("ASR_GGML_CACHE", str(cache))
    _load()
    mp.undo()
    return cache


@pytest.fixture
def model_file(converted, tmp_path, monkeypatch):
    """The converted file in a fresh cache of this test (its record beside it)."""
    cache = tmp_path / "ggml"
    shutil.copytree(converted, cache)
    monkeypatch.setenv("ASR_GGML_CACHE", str(cache))
    path = ggml_path(MODEL, WEIGHTS, "q5_1")
    assert path.is_file() and record_path(path).is_file()
    return path


def _error() -> str:
    with pytest.raises(ModelError) as err:
        _load()
    return str(err.value)


@pytest.mark.slow  # converts and loads an engine
def test_an_intact_file_loads_and_its_record_matches(model_file):
    record = json.loads(record_path(model_file).read_text())["files"][model_file.name]
    assert record["size_bytes"] == model_file.stat().st_size and len(record["sha256"]) == 64
    assert record["header"]["n_vocab"] == 51865 and record["header"]["ftype"] == 2009
    assert _load().engine is not None


@pytest.mark.slow  # converts and loads an engine
def test_a_file_cut_to_100_kb_is_one_sentence(model_file):
    size = model_file.stat().st_size
    with open(model_file, "r+b") as f:
        f.truncate(100 * 1024)
    assert _error() == (f"The converted whisper.cpp file {model_file.name} is damaged ({model_file.name} is 102,400 "
                        f"bytes where the converter wrote {size:,}): {FIX}")


@pytest.mark.slow  # converts and loads an engine
def test_a_corrupted_n_vocab_is_named(model_file):
    with open(model_file, "r+b") as f:
        f.seek(4)  # after the magic: n_vocab
        f.write(struct.pack("<i", 12345))
    assert _error() == (f"The converted whisper.cpp file {model_file.name} is damaged (its header says n_vocab 12345 "
                        f"where the converter wrote 51865): {FIX}")


@pytest.mark.slow  # converts and loads an engine
def test_a_changed_byte_fails_the_checksum(model_file):
    with open(model_file, "r+b") as f:
        f.seek(-10, 2)
        byte = f.read(1)
        f.seek(-10, 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert "the checksum of" in _error() and FIX in _error()


@pytest.mark.slow  # converts and loads an engine
def test_an_unreadable_record_is_one_sentence(model_file):
    record_path(model_file).write_text("{not json")
    assert _error() == f"The converted whisper.cpp file {model_file.name} is damaged (its record cannot be read): {FIX}"


@pytest.mark.slow  # converts and loads an engine
def test_a_file_that_is_not_this_checkpoints_is_refused_by_its_header(model_file, tmp_path):
    """A consistently recorded file whose header describes another precision (say a stale cache entry)."""
    q8 = ggml_path(MODEL, WEIGHTS, "q8_0")
    shutil.copy(model_file, q8)
    record_file(q8, q8, {"ftype": 2009})
    with pytest.raises(ModelError) as err:
        _load("q8_0")
    assert "its header says ftype 2009 where the checkpoint has 2007" in str(err.value)


@pytest.mark.slow  # converts and loads an engine
def test_a_file_without_a_record_is_converted_again(model_file):
    record_path(model_file).unlink()
    model_file.write_bytes(b"not a model")  # an older converter's file, or one a crash left unrecorded
    model = _load()
    assert model.engine is not None and model_file.stat().st_size > 100_000 and record_path(model_file).is_file()


@pytest.mark.slow  # converts and loads an engine
def test_leftovers_of_a_killed_conversion_are_removed_at_the_next(model_file):
    left = model_file.with_name(model_file.name + "k3j4h5.part")
    left.write_bytes(b"half a model")
    model_file.unlink()
    record_path(model_file).unlink()
    _load()
    assert not left.exists() and model_file.is_file()
    assert not list(model_file.parent.glob("*.part"))


@pytest.mark.parametrize("where, why", [("file", "a file is there, not a folder"),
                                        ("/proc/x", "No such file or directory")])
def test_a_cache_that_cannot_be_used_is_one_sentence(tmp_path, monkeypatch, where, why):
    if where == "file":
        (tmp_path / "file").write_text("")
        where = str(tmp_path / "file")
    monkeypatch.setenv("ASR_GGML_CACHE", where)
    assert _error() == (f"The conversion cache cannot be used (the folder ASR_GGML_CACHE names: {why}): point "
                        f"ASR_GGML_CACHE at a writable folder, or unset it to use ~/.cache/asr-cost-explorer.")


def test_a_cache_folder_where_nothing_can_be_written_is_one_sentence(monkeypatch):
    monkeypatch.setenv("ASR_GGML_CACHE", "/proc")  # exists, but no file can be made there (not even by root)
    message = _error()
    assert message.startswith("The conversion cache cannot be used (the folder ASR_GGML_CACHE names: ")
    assert "point ASR_GGML_CACHE at a writable folder" in message


@pytest.mark.slow  # converts and loads an engine
def test_a_damaged_ctranslate2_conversion_is_one_sentence(tmp_path, monkeypatch):
    pytest.importorskip("ctranslate2")
    from asr_core.runtimes.ct2 import ct2_folder
    monkeypatch.setenv("ASR_CT2_CACHE", str(tmp_path / "ct2"))
    _load("int8", "ctranslate2")
    folder = ct2_folder(MODEL, WEIGHTS, "int8")
    assert record_path(folder).is_file() and not list(folder.parent.glob("*.part"))
    with open(folder / "model.bin", "r+b") as f:
        f.truncate(100 * 1024)
    with pytest.raises(ModelError) as err:
        _load("int8", "ctranslate2")
    assert str(err.value).startswith(f"The converted CTranslate2 folder {folder.name} is damaged (model.bin is "
                                     f"102,400 bytes where the converter wrote ")
    assert str(err.value).endswith("delete it to convert the checkpoint again (it is in the folder ASR_CT2_CACHE "
                                   "names).")
    record_path(folder).unlink()  # a conversion from before records: converted again
    assert _load("int8", "ctranslate2").engine is not None and record_path(folder).is_file()
