"""The precomputed folder: where it is, and the published table read from it."""
from __future__ import annotations

from asr_app import precomputed


def test_precomputed_dir_honours_the_env_var(monkeypatch, tmp_path):
    monkeypatch.delenv(precomputed.PRECOMPUTED_ENV, raising=False)
    assert precomputed.precomputed_dir(tmp_path) == tmp_path / "precomputed"
    monkeypatch.setenv(precomputed.PRECOMPUTED_ENV, "/elsewhere")
    assert str(precomputed.precomputed_dir(tmp_path)) == "/elsewhere"

