"""Sweeps: grid, failed cells recorded, atomic writes, resume after SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asr_core import sweep, sweep_table
from asr_core.measure import ResourceError
from helpers import ROOT, tone


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A local clip source: one recording of eight 2.5 s utterances with a CSV manifest."""
    d = tmp_path_factory.mktemp("speech")
    rows = []
    for i in range(8):
        sf.write(d / f"u{i}.wav", tone(2.5, 200 + 40 * i, seed=i), 16000)
        rows.append(f"u{i}.wav,word{i} and more,talk1")
    (d / "manifest.csv").write_text("path,text,recording\n" + "\n".join(rows) + "\n")
    return d


def _grid(folder, tmp_path, **kw):
    base = dict(models=("openai/whisper-tiny",), weights=("synthetic",), buckets=("5s",), batch_sizes=(1, 2),
                clips_per_cell=2, repeats=2, clip_source=str(folder), cache_dir=str(tmp_path / "cache"))
    return sweep.Grid(**{**base, **kw})


def test_grid_cells_and_toml(tmp_path):
    toml = tmp_path / "grid.toml"
    toml.write_text('[sweep]\nmodels = ["a", "b"]\nbatch_sizes = [1, 8]\nbuckets = ["5s"]\nrepeats = 3\n')
    grid = sweep.grid_from_toml(toml, devices=("cpu",))
    cells = grid.cells()
    assert len(cells) == 2 * 2 * 3 and grid.batch_sizes == (1, 8)
    assert [c["model"] for c in cells[:6]] == ["a"] * 6  # grouped by model: loaded once
    toml.write_text("[sweep]\nmodel = ['typo']\n")
    with pytest.raises(ValueError, match="Unknown keys"):
        sweep.grid_from_toml(toml)


def test_grid_leaves_out_combinations_that_can_never_run():
    grid = sweep.Grid(models=("openai/whisper-tiny", "facebook/wav2vec2-base-960h"), precisions=("fp32", "int8"),
                      runtimes=("transformers", "ctranslate2"), buckets=("5s",), batch_sizes=(1,), repeats=1)
    cells = {(c["model"].split("/")[1], c["precision"], c["runtime"]) for c in grid.cells()}
    assert cells == {("whisper-tiny", "fp32", "transformers"), ("whisper-tiny", "fp32", "ctranslate2"),
                     ("whisper-tiny", "int8", "ctranslate2"), ("wav2vec2-base-960h", "fp32", "transformers")}
    assert len(grid.skipped()) == 4  # tiny int8 eager; wav2vec2 fp32 ct2, int8 eager, int8 ct2
    assert ("facebook/wav2vec2-base-960h fp32 ctranslate2: the ctranslate2 runtime runs Whisper only: "
            "use runtime transformers or transformers-compiled") in grid.skipped()


def test_sweep_rows_provenance_and_resume_skips_done(folder, tmp_path):
    out = tmp_path / "s.parquet"
    grid = _grid(folder, tmp_path)
    table = sweep.run_sweep(grid, out, progress=False)
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    assert set(table["repeat"]) == {0, 1} and set(table["batch_size"]) == {1, 2}
    assert (table["encoder_flops_per_clip"] > 0).all()  # repeats carry the first run's FLOPs
    prov = json.loads(out.with_suffix(".provenance.json").read_text())
    assert prov["runs"][-1]["grid"]["models"] == ["openai/whisper-tiny"] and "cpu" in prov["runs"][0]["hardware"]
    calls = []
    again = sweep.run_sweep(grid, out, progress=False, cell_runner=lambda *a: calls.append(a))
    assert calls == [] and len(again) == 4


def test_failed_cell_is_recorded_and_sweep_goes_on(folder, tmp_path):
    def runner(shared, cell, first):
        if cell["batch_size"] == 2:
            from asr_core.results import failed_result
            return {**failed_result(cell["model"], "whisper", cell["weights"], cell["device"], cell["precision"],
                                    "ResourceError: Out of GPU memory", status="oom",
                                    batch_size=2, bucket=cell["bucket"]).to_dict(),
                    "runtime": cell["runtime"], "repeat": cell["repeat"]}
        return sweep.run_cell(shared, cell, first)
    table = sweep.run_sweep(_grid(folder, tmp_path), tmp_path / "s.parquet", progress=False, cell_runner=runner)
    assert sorted(table["status"]) == ["ok", "ok", "oom", "oom"]


def test_run_cell_turns_out_of_memory_into_a_row(folder, tmp_path, monkeypatch):

    def boom(*args, **kwargs):
        raise ResourceError("Out of GPU memory running x at batch size 32: try a smaller --batch-size.")
    monkeypatch.setattr(sweep, "transcribe", boom)
    shared = sweep._Loaded(_grid(folder, tmp_path))
    cell = dict(model="openai/whisper-tiny", runtime="transformers", device="cpu", precision="fp32",
                weights="synthetic", bucket="5s", batch_size=32, repeat=0)
    row = sweep.run_cell(shared, cell, True)
    assert row["status"] == "oom" and "batch size 32" in row["error"] and row["batch_size"] == 32


def test_sigkill_mid_sweep_then_resume(folder, tmp_path):
    out = tmp_path / "s.parquet"
    args = [sys.executable, "-m", "asr_core", "sweep", "--clips", str(folder), "--cache-dir", str(tmp_path / "c"),
            "--models", "openai/whisper-tiny", "--weights", "synthetic", "--buckets", "5s",
            "--batch-sizes", "1,2,4", "--clips-per-cell", "2", "--repeats", "2", "--out", str(out)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and len(pd.read_parquet(out)) >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = pd.read_parquet(out)  # never corrupt
    assert 2 <= len(partial) < 6
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_parquet(out)
    keys = table[sweep_table.ROW_KEYS].astype(str).agg("|".join, axis=1)
    assert len(table) == 6 and keys.is_unique and set(table["status"]) == {"ok"}
    assert not list(tmp_path.glob(".s.parquet.tmp*"))


def test_csv_export(folder, tmp_path):
    table = pd.DataFrame([{"model": "m", "wer": np.nan, "hypotheses": ["a"]}])
    sweep_table.write_atomic(table, tmp_path / "t.csv")
    assert sweep_table.read_rows(tmp_path / "t.csv")["model"].tolist() == ["m"]
