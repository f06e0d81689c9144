"""Sweeps: grid and its checks, failed cells recorded, atomic writes, resume after SIGKILL, one writer at a
time, corrupt files left untouched, failed writes, the exit code when every run failed."""
from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import filelock
import numpy as np
import pandas as pd
import pytest

from asr_core import cli, noise, runs, sweep, sweep_table
from asr_core.errors import ModelError, ResourceError


from asr_core.results import failed_result
from helpers import ROOT, fake_row, sweep_grid

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def folder(clip_folder):
    return clip_folder


def test_grid_cells_and_toml(tmp_path):
    toml = tmp_path / "grid.toml"
    toml.write_text('[sweep]\nmodels = ["a", "b"]\nbatch_sizes = [1, 8]\nbuckets = ["5s"]\nrepeats = 3\n')
    grid = sweep.grid_from_toml(toml, devices=("cpu",))
    cells = grid.cells()
    assert len(cells) == 2 * 2 * 3 and grid.batch_sizes == (1, 8)
    assert [c["model"] for c in cells[:6]] == ["a"] * 6  # grouped by model: loaded once
    toml.write_text("[sweep]\nmodel = ['typo']\n")
    with pytest.raises(sweep.SweepError, match=r"Unknown key\(s\) in .*grid.toml: model; the allowed keys are "
                                                r"models, devices, "):
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


def test_sweep_rows_provenance_and_resume_skips_done(folder, tmp_path, synthetic_whisper_dir):
    out = tmp_path / "s.parquet"
    grid = sweep_grid(folder, tmp_path, models=(str(synthetic_whisper_dir),))
    table = sweep.run_sweep(grid, out, progress=False)
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    assert set(table["repeat"]) == {0, 1} and set(table["batch_size"]) == {1, 2}
    assert (table["encoder_flops_per_clip"] > 0).all()  # repeats carry the first run's FLOPs
    prov = json.loads(out.with_suffix(".provenance.json").read_text())
    assert prov["runs"][-1]["grid"]["models"] == [str(synthetic_whisper_dir)] and "cpu" in prov["runs"][0]["hardware"]
    assert set(table["host"]) == {socket.gethostname()} and prov["runs"][-1]["hosts"] == [socket.gethostname()]
    calls = []
    again = sweep.run_sweep(grid, out, progress=False, cell_runner=lambda *a: calls.append(a))
    assert calls == [] and len(again) == 4


def test_failed_cell_is_recorded_and_sweep_goes_on(folder, tmp_path, synthetic_whisper_dir):
    def runner(shared, cell, first):
        if cell["batch_size"] == 2:
            from asr_core.results import failed_result
            return {**failed_result(cell["model"], "whisper", cell["weights"], cell["device"], cell["precision"],
                                    "ResourceError: Out of GPU memory", status="oom",
                                    batch_size=2, bucket=cell["bucket"]).to_dict(),
                    "runtime": cell["runtime"], "repeat": cell["repeat"]}
        return sweep.run_cell(shared, cell, first)
    grid = sweep_grid(folder, tmp_path, models=(str(synthetic_whisper_dir),))
    table = sweep.run_sweep(grid, tmp_path / "s.parquet", progress=False, cell_runner=runner)
    assert sorted(table["status"]) == ["ok", "ok", "oom", "oom"]


def test_run_cell_turns_out_of_memory_into_a_row(folder, tmp_path, monkeypatch):

    def boom(*args, **kwargs):
        raise ResourceError("Out of GPU memory running x at batch size 32: try a smaller --batch-size.")
    monkeypatch.setattr(runs, "transcribe", boom)
    shared = sweep._Loaded(sweep_grid(folder, tmp_path))
    cell = dict(model="openai/whisper-tiny", runtime="transformers", device="cpu", precision="fp32",
                weights="synthetic", bucket="5s", batch_size=32, repeat=0)
    row = sweep.run_cell(shared, cell, True)
    assert row["status"] == "oom" and "batch size 32" in row["error"] and row["batch_size"] == 32


@pytest.mark.slow
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


# --- the grid is checked before anything loads ----------------------------------------------------------

def _toml_error(tmp_path, text: str) -> str:
    toml = tmp_path / "grid.toml"
    toml.write_text(text)
    with pytest.raises(sweep.SweepError) as info:
        sweep.grid_from_toml(toml)
    message = str(info.value)
    assert str(toml) in message and message.endswith(".") and "\n" not in message
    return message


def test_toml_syntax_error_names_the_file_and_line(tmp_path):
    message = _toml_error(tmp_path, '[sweep]\nrepeats = 2\nmodels ["a"]\n')
    assert message == (f"{tmp_path / 'grid.toml'} is not valid TOML: Expected '=' after a key in a key/value pair "
                       f"(at line 3, column 8); fix it and run again.")


@pytest.mark.parametrize("line, expected", [
    ('models = "openai/whisper-tiny"', "models must be a list (e.g. models = [\"openai/whisper-tiny\"]), "
                                       "not 'openai/whisper-tiny'."),
    ('batch_sizes = ["8"]', "batch_sizes must list whole numbers of at least 1 (e.g. batch_sizes = [1, 4, 8, 16, 32]), "
                            "not '8'."),
    ("batch_sizes = [0, 4]", "batch_sizes must list whole numbers of at least 1"),
    ("batch_sizes = [2.0]", "not 2.0."),
    ("repeats = true", "repeats must be a whole number of at least 1 (e.g. 3), not True."),
    ("clips_per_cell = 2.5", "clips_per_cell must be a whole number of at least 1 (e.g. 8), not 2.5."),
    ("clips_per_cell = 0", "clips_per_cell must be a whole number of at least 1 (e.g. 8), not 0."),
    ("seed = '42'", "seed must be a whole number (e.g. 42), not '42'."),
    ("clip_source = ['tedlium']", "clip_source must be a string, not ('tedlium',)."),
    ("models = [1]", "models must list names in quotes"),
    ("models = []", "models is empty: give at least one value"),
    ('devices = ["gpu", "cpu"]', "devices has unknown value(s) gpu: use auto, cpu, cuda."),
    ('precisions = ["fp8"]', "precisions has unknown value(s) fp8: use fp32, fp16, bf16, int8, int8_fp16, q8_0, "
                             "q5_1."),
    ('weights = ["random"]', "weights has unknown value(s) random: use pretrained, synthetic."),
    ('runtimes = ["onnx"]', "runtimes has unknown value(s) onnx: use transformers, transformers-compiled, "
                            "ctranslate2, openai-whisper, whisper.cpp."),
    ('buckets = ["10s"]', "buckets has unknown value(s) 10s: use 5s, 15s, 30s, 60s."),
    ('snrs = ["10"]', "snrs must list numbers of dB or inf for clean audio (e.g. snrs = [inf, 20, 10, 5, 0]), "
                      "not '10'."),
    ("snrs = [nan]", "not nan."),
    ("snrs = []", "snrs must be a non-empty list of dB values"),
    ('noise = "pink"', "noise must be 'white' or 'babble', not 'pink'."),
])
def test_toml_values_of_the_wrong_type_or_unknown_are_refused(tmp_path, line, expected):
    assert expected in _toml_error(tmp_path, f"[sweep]\n{line}\n")


def test_toml_keys_outside_the_sweep_table_are_refused(tmp_path):
    message = _toml_error(tmp_path, 'repeats = 2\n[sweep]\nmodels = ["a"]\n')
    assert "Unknown key(s) in" in message and ": repeats;" in message


def test_a_grid_from_flags_is_checked_before_anything_loads(folder, tmp_path, capsys, no_loading):
    out = tmp_path / "o" / "s.parquet"
    code = cli.main(["sweep", "--clips", str(folder), "--clips-per-cell", "0", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "error: Sweep setting clips_per_cell must be a whole number of at least 1 (e.g. 8), not 0.\n"
    assert cli.main(["sweep", "--devices", "gpu", "--out", str(out)]) == 2
    assert "devices has unknown value(s) gpu" in capsys.readouterr().err
    assert not out.parent.exists() and no_loading == []


# --- one writer at a time ---------------------------------------------------------------------------------

@pytest.fixture
def no_loading(monkeypatch):
    """Record any attempt to build clips or load a model (and stop it); the list should stay empty."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("nothing should load here")
    monkeypatch.setattr(sweep, "build_clip_cache", refuse)
    monkeypatch.setattr(sweep, "load_model", refuse)
    return calls


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_second_writer_is_refused_and_writes_nothing(folder, tmp_path, capsys):
    out = tmp_path / "s.parquet"
    with filelock.FileLock(sweep.lock_path(out)):  # a first sweep holding the output
        with pytest.raises(sweep.SweepError) as info:
            sweep.run_sweep(sweep_grid(folder, tmp_path), out, progress=False, cell_runner=fake_row)
        code = cli.main(["sweep", "--clips", str(folder), "--out", str(out)])
    assert str(info.value) == (f"{out} is being written by another sweep (it holds {out}.lock): wait for that "
                               f"sweep to finish or choose another --out.")
    assert code == 2 and capsys.readouterr().err == f"error: {info.value}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet.lock"]  # no rows, no provenance, no cache
    table = sweep.run_sweep(sweep_grid(folder, tmp_path), out, progress=False, cell_runner=fake_row)
    assert len(table) == 4  # the lock is free again


FIRST_WRITER = """
import pathlib, sys, time
sys.path.insert(0, sys.argv[1])
from asr_core import sweep
from helpers import sweep_grid, fake_row
folder, out, gate = sys.argv[2:]

def gated(shared, cell, first):
    while not pathlib.Path(gate).exists():
        time.sleep(0.02)
    return fake_row(shared, cell, first)

grid = sweep_grid(folder, pathlib.Path(out).parent, batch_sizes=(1, 2, 4))
sweep.run_sweep(grid, out, progress=False, cell_runner=gated)
"""


@pytest.mark.slow
def test_two_sweep_processes_into_one_file_lose_no_rows(folder, tmp_path):
    out, gate = tmp_path / "s.parquet", tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", FIRST_WRITER, str(TESTS), str(folder), str(out), str(gate)],
                             cwd=ROOT, stderr=subprocess.PIPE, text=True)
    provenance = sweep.provenance_path(out)
    deadline = time.time() + 120
    while not provenance.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)  # the first holds the lock before it writes provenance, and waits at its first cell
    assert provenance.exists(), first.stderr.read() if first.poll() is not None else "first sweep never started"
    try:
        with pytest.raises(sweep.SweepError, match="is being written by another sweep"):
            sweep.run_sweep(sweep_grid(folder, tmp_path, batch_sizes=(8,)), out, progress=False, cell_runner=fake_row)
    finally:
        gate.touch()
        assert first.wait(timeout=120) == 0, first.stderr.read()
    table = pd.read_parquet(out)
    keys = table[sweep_table.ROW_KEYS].astype(str).agg("|".join, axis=1)
    assert len(table) == 6 and keys.is_unique and sorted(table["batch_size"].unique()) == [1, 2, 4]
    assert len(json.loads(provenance.read_text())["runs"]) == 1  # the refused sweep recorded nothing


# --- files that are not what they should be are left untouched ----------------------------------------------

@pytest.mark.parametrize("content", [b"{\"runs\": [", b"[1, 2]", b"{\"runs\": {}}", b"{}", b"\xff\xfe"])
def test_a_corrupt_provenance_file_stops_the_sweep_untouched(folder, tmp_path, capsys, no_loading, content):
    out = tmp_path / "s.parquet"
    sweep.provenance_path(out).write_bytes(content)
    code = cli.main(["sweep", "--clips", str(folder), "--out", str(out)])
    assert code == 2 and capsys.readouterr().err == (
        f"error: {tmp_path / 's.provenance.json'} is not a provenance record (a JSON object with a list \"runs\" of "
        f"objects): move it away or choose another --out.\n")
    assert _files(tmp_path) == {"s.parquet.lock": b"", "s.provenance.json": content} and no_loading == []


@pytest.mark.parametrize("name, content, why", [
    ("s.parquet", b"PAR1 not really", "could not be read as a sweep table (ArrowInvalid)"),
    ("s.csv", b"", "could not be read as a sweep table (EmptyDataError)"),
    ("s.csv", b"a,b\n1,2\n", "is not a sweep table (no model, runtime, weights, device, precision, batch_size, "
                             "bucket, repeat column)"),
])
def test_a_corrupt_sweep_file_stops_the_sweep_untouched(folder, tmp_path, capsys, no_loading, name, content, why):
    out = tmp_path / name
    out.write_bytes(content)
    code = cli.main(["sweep", "--clips", str(folder), "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err == f"error: {out} {why}: move it away or choose another --out.\n"
    assert _files(tmp_path) == {f"{name}.lock": b"", name: content} and no_loading == []


# --- a write that fails leaves the files as they were ------------------------------------------------------

def _finished_sweep(folder, tmp_path) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path / "run" / "s.parquet"
    sweep.run_sweep(sweep_grid(folder, tmp_path, repeats=1), out, progress=False, cell_runner=fake_row)
    return out, _files(out.parent)


def _fail(exc: OSError):
    def fail(*args, **kwargs):
        raise exc
    return fail


@pytest.mark.parametrize("target, exc, why", [
    ("fsync", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space left on device"),
    ("replace", PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "Permission denied"),
])
def test_a_failed_provenance_write_leaves_both_files(folder, tmp_path, capsys, monkeypatch, target, exc, why):
    out, before = _finished_sweep(folder, tmp_path)
    monkeypatch.setattr(sweep, "load_model", _fail(RuntimeError("nothing should load here")))
    monkeypatch.setattr(os, target, _fail(exc))  # after the temporary file is written: it must be removed
    code = cli.main(["sweep", "--clips", str(folder), "--cache-dir", str(tmp_path / "cache"), "--repeats", "2",
                     "--out", str(out)])
    monkeypatch.undo()
    assert code == 2 and capsys.readouterr().err == (
        f"error: Could not write {out.parent / 's.provenance.json'} ({why}): free some disk space, make the folder "
        f"writable or choose another --out, then run the same command again to resume.\n")
    assert _files(out.parent) == before  # byte for byte, and no temporary file left


def test_a_full_disk_while_writing_rows_keeps_the_rows_written_before(folder, tmp_path, monkeypatch):
    out, before = _finished_sweep(folder, tmp_path)

    def full_disk(df, path, **kwargs):
        Path(path).write_bytes(b"PAR1 half a table")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    with pytest.raises(sweep.SweepError, match=r"Could not write .*s\.parquet \(No space left on device\)"):
        sweep.run_sweep(sweep_grid(folder, tmp_path, repeats=2), out, progress=False, cell_runner=fake_row)
    monkeypatch.undo()
    after = _files(out.parent)
    assert sorted(after) == sorted(before) and after["s.parquet"] == before["s.parquet"]
    runs = json.loads(after["s.provenance.json"])["runs"]
    assert len(runs) == 2 and runs[0] == json.loads(before["s.provenance.json"])["runs"][0]
    assert len(pd.read_parquet(out)) == 2


def test_a_read_only_folder_gives_one_sentence(folder, tmp_path):
    out, before = _finished_sweep(folder, tmp_path)
    out.parent.chmod(0o555)
    try:
        if os.access(out.parent, os.W_OK):
            pytest.skip("running as root: a read-only folder is still writable (the injected failures cover this)")
        with pytest.raises(sweep.SweepError, match=r"Could not write .* \(Permission denied\)"):
            sweep.run_sweep(sweep_grid(folder, tmp_path, repeats=2), out, progress=False, cell_runner=fake_row)
        assert _files(out.parent) == before
    finally:
        out.parent.chmod(0o755)


# --- every run failed ---------------------------------------------------------------------------------------

def _sweep_cli(folder, tmp_path, capsys) -> tuple[int, str, str]:
    code = cli.main(["sweep", "--clips", str(folder), "--cache-dir", str(tmp_path / "cache"), "--weights", "synthetic",
                     "--buckets", "5s", "--batch-sizes", "1,2", "--clips-per-cell", "2", "--repeats", "1",
                     "--out", str(tmp_path / "s.parquet")])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_sweep_in_which_every_run_failed_exits_1(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "load_model", _fail(ModelError("The checkpoint is missing.")))
    code, out, err = _sweep_cli(folder, tmp_path, capsys)
    assert code == 1 and "2 rows in" in out
    assert err.splitlines()[-1] == ("error: All 2 run(s) of this sweep failed (ModelError: The checkpoint is "
                                    "missing.): fix that, then run again with another --out, since a resume skips "
                                    "the runs already recorded.")
    assert set(pd.read_parquet(tmp_path / "s.parquet")["status"]) == {"error"}


def test_a_sweep_with_some_successes_exits_0_and_lists_the_failures(folder, tmp_path, capsys, monkeypatch):
    def batch_of_two_fails(model, clips, refs, opts, **kwargs):
        if opts.batch_size == 2:
            raise ResourceError("Out of memory at batch size 2.")
        return failed_result("openai/whisper-tiny", "whisper", "synthetic", "cpu", "fp32", "", status="ok",
                             batch_size=opts.batch_size, bucket=opts.bucket)
    monkeypatch.setattr(sweep, "load_model", lambda *key: SimpleNamespace(device="cpu"))  # a stand-in model
    monkeypatch.setattr(runs, "check_tokens", lambda *args: None)  # the stand-in has no decoder to ask
    monkeypatch.setattr(runs, "transcribe", batch_of_two_fails)
    code, out, err = _sweep_cli(folder, tmp_path, capsys)
    assert code == 0 and "1 run(s) failed: ResourceError: Out of memory at batch size 2." in out
    assert "error:" not in err


def test_all_failed_looks_only_at_the_rows_this_run_added():
    rows = pd.DataFrame({"status": ["ok", "error", "oom", "error"], "error": ["", "A", "B", "A"]})
    assert sweep.all_failed(rows.assign()) is None  # not from run_sweep: nothing added
    rows.attrs[sweep.NEW_ROWS] = 3
    assert sweep.all_failed(rows).startswith("All 3 run(s) of this sweep failed (A; B): ")
    rows.attrs[sweep.NEW_ROWS] = 4
    assert sweep.all_failed(rows) is None
    rows.attrs[sweep.NEW_ROWS] = 0
    assert sweep.all_failed(rows) is None


# --- hosts ----------------------------------------------------------------------------------------------------

def test_provenance_lists_every_host_that_ran_rows_of_each_run(folder, tmp_path):
    out = tmp_path / "s.parquet"
    hosts = iter(["box-b", "box-a", "box-b", "box-a"])

    def from_two_hosts(shared, cell, first):
        return {**fake_row(shared, cell, first), "host": next(hosts)}
    sweep.run_sweep(sweep_grid(folder, tmp_path, repeats=1), out, progress=False, cell_runner=from_two_hosts)
    sweep.run_sweep(sweep_grid(folder, tmp_path, repeats=2), out, progress=False, cell_runner=from_two_hosts)
    runs = json.loads(sweep.provenance_path(out).read_text())["runs"]
    assert [r["hosts"] for r in runs] == [["box-a", "box-b"], ["box-a", "box-b"]]
    assert sorted(pd.read_parquet(out)["host"]) == ["box-a", "box-a", "box-b", "box-b"]


def test_a_cell_that_fails_names_its_host_too(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "load_model", _fail(ModelError("The checkpoint is missing.")))
    cell = dict(model="openai/whisper-tiny", runtime="transformers", device="cpu", precision="fp32",
                weights="synthetic", bucket="5s", batch_size=1, repeat=0)
    row = sweep.run_cell(sweep._Loaded(sweep_grid(folder, tmp_path)), cell, True)
    assert (row["status"], row["host"], row["error"]) == ("error", socket.gethostname(),
                                                          "ModelError: The checkpoint is missing.")


# --- the SNR axis ---------------------------------------------------------------------------------------

def _noise_runner(seen):
    """A runner that records how far the clips each cell measures are from the clean ones, without a model."""
    def runner(shared, cell, first):
        clips, _ = runs.prepare(shared.request(cell, first))
        clean, _ = shared.clips(cell["bucket"])
        seen.append((cell["snr_db"], cell["noise"], [float(np.abs(a - b).max()) for a, b in zip(clips, clean)]))
        return fake_row(shared, cell, first)
    return runner


def test_snr_axis_mixes_noise_records_it_and_resumes_by_it(folder, tmp_path):
    out, seen = tmp_path / "s.parquet", []
    grid = sweep_grid(folder, tmp_path, batch_sizes=(1,), repeats=1, snrs=(math.inf, 5.0), noise="babble")
    table = sweep.run_sweep(grid, out, progress=False, cell_runner=_noise_runner(seen))
    assert [(snr, kind) for snr, kind, _ in seen] == [(math.inf, ""), (5.0, "babble")]
    assert max(seen[0][2]) == 0 and min(seen[1][2]) > 0  # clean clips untouched, noisy ones changed
    assert table[["snr_db", "noise"]].values.tolist() == [[math.inf, ""], [5.0, "babble"]]
    more = dataclasses.replace(grid, snrs=(math.inf, 5, 0))
    again = sweep.run_sweep(more, out, progress=False, cell_runner=_noise_runner(seen))
    assert [s for s, _, _ in seen[2:]] == [0] and len(again) == 3  # only the new SNR ran
    assert sweep_table.read(out)["snr_db"].tolist() == [math.inf, 5, 0]


def test_noisy_clips_are_seeded_and_hit_their_snr(folder, tmp_path):
    grid = sweep_grid(folder, tmp_path, snrs=(10,))
    one, two = sweep._Loaded(grid), sweep._Loaded(grid)
    cell = grid.cells()[0]
    noisy, clean = runs.prepare(one.request(cell, True))[0], one.clips("5s")[0]
    assert all(np.array_equal(a, b) for a, b in zip(noisy, runs.prepare(two.request(cell, True))[0]))
    for n, c in zip(noisy, clean):
        snr = 10 * math.log10(noise.power(c) / noise.power(n.astype(np.float64) - c))
        assert abs(snr - 10) < 0.5


def test_a_sweep_file_from_before_the_snr_axis_resumes_as_clean(folder, tmp_path):
    out = tmp_path / "s.parquet"
    grid = sweep_grid(folder, tmp_path, batch_sizes=(1,), repeats=1)
    rows = [{**fake_row(None, cell, True), "clip_source": grid.clip_source} for cell in grid.cells()]
    old = pd.DataFrame(rows).drop(columns=["snr_db", "noise"])
    sweep_table.write_atomic(old, out)
    calls = []
    table = sweep.run_sweep(grid, out, progress=False, cell_runner=lambda *a: calls.append(a))
    assert calls == [] and len(table) == 1
    assert sweep_table.read(out)[["snr_db", "noise"]].values.tolist() == [[math.inf, ""]]
