"""The FLOP cache on disk: figures read back by key, bounded, written whole, and passed over when it cannot be used."""
from __future__ import annotations

import json

from asr_core import flop_cache


def test_figures_are_read_back_by_their_key(empty_flop_cache):
    key = flop_cache.key("arch", "transformers", "float", 1, 0)
    assert flop_cache.get(key) is None
    flop_cache.put({key: (1e9, 2.5e8, 3.0e6)})
    assert flop_cache.get(key) == (1e9, 2.5e8, 3.0e6)
    assert key.startswith(f"v{flop_cache.VERSION}|")  # a new way of counting never reads the old figures


def test_several_keys_are_read_from_one_reading_of_the_file(empty_flop_cache):
    flop_cache.put({"a": (1.0,), "b": (2.0, 3.0)})
    assert flop_cache.get_many(["a", "b", "c"]) == {"a": (1.0,), "b": (2.0, 3.0)}  # c is not there: left out


def test_the_cache_keeps_the_most_recently_written_entries(empty_flop_cache, monkeypatch):
    monkeypatch.setattr(flop_cache, "MAX_ENTRIES", 3)
    for i in range(5):
        flop_cache.put({f"k{i}": (float(i),)})
    flop_cache.put({"k2": (2.0,)})  # written again: the most recent
    assert list(json.loads(empty_flop_cache.read_text())) == ["k3", "k4", "k2"]


def test_an_architecture_hash_ignores_what_does_not_change_the_computation():
    config = {"d_model": 384, "encoder_layers": 4}
    same = {**config, "_name_or_path": "/somewhere/else", "transformers_version": "5.0", "torch_dtype": "float16"}
    assert flop_cache.config_hash(config, "whisper") == flop_cache.config_hash(same, "whisper")
    assert flop_cache.config_hash(config, "whisper") != flop_cache.config_hash({**config, "d_model": 512}, "whisper")
    assert flop_cache.config_hash(config, False) != flop_cache.config_hash(config, True)  # e.g. a longer prompt


def test_a_cache_that_cannot_be_read_is_passed_over_and_written_anew(empty_flop_cache, caplog):
    empty_flop_cache.write_text("{not json")
    assert flop_cache.get("k") is None
    flop_cache.put({"k": (1.0,)})
    assert flop_cache.get("k") == (1.0,)
    assert "cannot be read" in caplog.text


def test_a_cache_that_cannot_be_written_never_fails_a_run(monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(flop_cache.CACHE_ENV, str(blocker / "flops.json"))  # its folder is a file
    flop_cache.put({"k": (1.0,)})
    assert flop_cache.get("k") is None and "cannot be written" in caplog.text


def test_off_keeps_no_cache(monkeypatch):
    monkeypatch.setenv(flop_cache.CACHE_ENV, "off")
    assert flop_cache.cache_path() is None
    flop_cache.put({"k": (1.0,)})
    assert flop_cache.get("k") is None
