"""Sweeps on Ray (a local instance with 2 CPUs: the same rows as a plain sweep, each task holding its
resources, a dying worker retried and then recorded, Ray missing or unreachable as one sentence) and
merging sweep files from several machines."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psutil
import pytest

from asr_core import cli, cluster, sweep, sweep_table
from helpers import ROOT
from helpers import sweep_grid

RAY_CPUS = 2
OBJECT_STORE_BYTES = 200 * 1024**2
HOST = socket.gethostname()


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for the module (2 CPUs, a small object store, no dashboard), shut down after."""
    ray = pytest.importorskip("ray")
    try:
        ray.init(num_cpus=RAY_CPUS, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
                 log_to_driver=False)
    except Exception as exc:  # noqa: BLE001 - whatever stops Ray here is the reason to skip
        pytest.skip(f"Ray cannot start here: {type(exc).__name__}: {exc}")
    yield ray
    ray.shutdown()


@pytest.fixture
def folder(clip_folder):
    return clip_folder


def _small(folder, tmp_path, **kw):
    return sweep_grid(folder, tmp_path, clips_per_cell=1, repeats=1, **kw)


def _keys(table: pd.DataFrame) -> set[tuple]:
    return {sweep_table.row_key(r) for r in table.to_dict("records")}


def _ray_sweep(grid, out, runner):
    with cluster.on_ray(grid) as execute:
        return sweep.run_sweep(grid, out, progress=False, cell_runner=runner, execute=execute)


# --- a sweep on Ray ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_sweep_on_ray_gives_the_rows_of_a_plain_sweep(folder, tmp_path, ray_local, capsys):
    grid = _small(folder, tmp_path)
    plain = sweep.run_sweep(grid, tmp_path / "plain.parquet", progress=False)
    out = tmp_path / "ray.parquet"
    code = cli.main(["sweep", "--ray", "--clips", str(folder), "--cache-dir", str(tmp_path / "cache"),
                     "--weights", "synthetic", "--buckets", "5s", "--batch-sizes", "1,2", "--clips-per-cell", "1",
                     "--repeats", "1", "--out", str(out)])
    assert code == 0 and "2 rows in" in capsys.readouterr().out
    table = pd.read_parquet(out)
    assert _keys(table) == _keys(plain) and len(_keys(table)) == len(table) == 2
    assert set(table["status"]) == {"ok"} and (table["encoder_flops_per_clip"] > 0).all()
    assert set(table["host"]) == set(plain["host"]) == {HOST}
    assert json.loads(sweep.provenance_path(out).read_text())["runs"][-1]["hosts"] == [HOST]
    again = _ray_sweep(grid, out, lambda *a: pytest.fail("a finished row ran again"))
    assert len(again) == 2 and again.attrs[sweep.NEW_ROWS] == 0


def _holding():
    """A cell runner (shipped by value) whose rows' notes say what its task holds: Ray's resources, torch's threads."""
    def held(shared, cell, first):
        import ray
        import torch
        holds = {**ray.get_runtime_context().get_assigned_resources(), "threads": torch.get_num_threads()}
        row = sweep.failed_row(shared.grid, cell, "", status="ok", host=socket.gethostname())
        return {**row, "notes": json.dumps(holds)}
    return held


@pytest.mark.slow
def test_a_cpu_model_group_is_one_task_holding_every_cpu(folder, tmp_path, ray_local):
    grid = _small(folder, tmp_path, weights=("synthetic", "pretrained"))
    table = _ray_sweep(grid, tmp_path / "s.parquet", _holding())
    assert len(table) == 4 and _keys(table) == {sweep_table.row_key(c) for c in grid.cells()}
    threads = min(RAY_CPUS, psutil.cpu_count(logical=False))
    assert [json.loads(n) for n in table["notes"]] == [{"CPU": RAY_CPUS, "threads": threads}] * 4


@pytest.mark.slow
def test_relative_paths_mean_in_each_task_what_they_mean_here(folder, tmp_path, monkeypatch, ray_local):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASR_CLIP_CACHE", raising=False)
    shutil.copytree(folder, tmp_path / "speech")
    grid = sweep.Grid(weights=("synthetic",), buckets=("5s",), batch_sizes=(1,), clips_per_cell=1, repeats=1,
                      clip_source="speech")

    def clips_seen(shared, cell, first):
        clips, _ = shared.clips(cell["bucket"])
        return {**sweep.failed_row(shared.grid, cell, "", status="ok"), "notes": f"{len(clips)} from {os.getcwd()}"}
    table = _ray_sweep(grid, tmp_path / "s.parquet", clips_seen)
    assert table["notes"].tolist() == [f"1 from {tmp_path}"] and table["clip_source"].tolist() == ["speech"]
    assert (tmp_path / ".clip_cache").is_dir()


def test_each_device_asks_for_what_it_needs():
    plan = cluster.Plan(cpus_per_task=16, has_gpus=True)
    assert plan.resources("cuda") == {"num_gpus": 1, "num_cpus": cluster.GPU_TASK_CPUS}
    assert plan.resources("auto") == {"num_gpus": 1, "num_cpus": 1}
    assert plan.resources("cpu") == {"num_gpus": 0, "num_cpus": 16}
    assert cluster.Plan(cpus_per_task=4, has_gpus=False).resources("auto") == {"num_gpus": 0, "num_cpus": 4}


def test_model_groups_keep_each_loaded_model_together():
    grid = sweep.Grid(models=("a", "b"), precisions=("fp32", "fp16"), buckets=("5s",), batch_sizes=(1, 2), repeats=2)
    groups = sweep.model_groups(grid.cells())
    assert [len(g) for g in groups] == [4, 4, 4, 4]
    assert [(g[0]["model"], g[0]["precision"]) for g in groups] == [("a", "fp32"), ("a", "fp16"), ("b", "fp32"),
                                                                     ("b", "fp16")]
    assert all(len({tuple(c[k] for k in sweep.MODEL_KEYS) for c in g}) == 1 for g in groups)


# --- a worker that dies -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_worker_that_dies_once_is_retried_and_loses_or_repeats_no_row(folder, tmp_path, ray_local):
    marker = tmp_path / "died"

    def dies_once(shared, cell, first):  # defined here so Ray ships it by value
        if cell["batch_size"] == 2 and not marker.exists():
            marker.touch()
            os._exit(1)
        return sweep.failed_row(shared.grid, cell, "", status="ok", host=socket.gethostname())
    grid = _small(folder, tmp_path, batch_sizes=(1, 2, 4))
    table = _ray_sweep(grid, tmp_path / "s.parquet", dies_once)
    on_disk = pd.read_parquet(tmp_path / "s.parquet")
    assert marker.exists()  # it did die
    assert len(on_disk) == 3 and _keys(on_disk) == _keys(table) == {sweep_table.row_key(c) for c in grid.cells()}
    assert set(on_disk["status"]) == {"ok"}


@pytest.mark.slow
def test_a_worker_that_dies_twice_leaves_error_rows_and_the_sweep_goes_on(folder, tmp_path, ray_local):
    def pretrained_dies(shared, cell, first):
        if cell["weights"] == "pretrained":
            os._exit(1)
        return sweep.failed_row(shared.grid, cell, "", status="ok", host=socket.gethostname())
    grid = _small(folder, tmp_path, weights=("pretrained", "synthetic"))
    table = _ray_sweep(grid, tmp_path / "s.parquet", pretrained_dies)
    assert len(table) == 4 and _keys(table) == {sweep_table.row_key(c) for c in grid.cells()}
    by_weights = table.groupby("weights")["status"].apply(set).to_dict()
    assert by_weights == {"pretrained": {"error"}, "synthetic": {"ok"}}
    errors = table.loc[table["weights"] == "pretrained", "error"]
    assert all(e.startswith(f"{cluster.WORKER_DIED}: ") for e in errors)
    assert set(table.loc[table["weights"] == "pretrained", "host"]) == {""}  # where it died is not known


# --- what Ray cannot do, as one sentence ----------------------------------------------------------------------

def _sweep_args(folder, tmp_path, *extra):
    return ["sweep", "--clips", str(folder), "--out", str(tmp_path / "o" / "s.parquet"), *extra]


def test_ray_missing_is_one_sentence(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert cli.main(_sweep_args(folder, tmp_path, "--ray")) == 2
    assert capsys.readouterr().err == ("error: --ray needs Ray, which is not installed here: pip install ray (or pip "
                                       "install 'asr-cost-explorer[ray]'), then run the same command again.\n")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_an_address_where_nothing_answers_is_one_sentence(folder, tmp_path, capsys, monkeypatch, ray_local):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing answers there
    monkeypatch.setattr(ray_local, "is_initialized", lambda: False)
    assert cli.main(_sweep_args(folder, tmp_path, "--ray", f"127.0.0.1:{port}")) == 2
    assert capsys.readouterr().err == (f"error: Nothing answers at 127.0.0.1:{port} (Connection refused): start the "
                                       f"cluster with `ray start --head` on its head machine, or check the address.\n")


@pytest.mark.parametrize("extra, message", [
    (("--ray", "--devices", "cuda"), "The grid has device cuda but this machine has no GPU: leave cuda out of "
                                     "--devices, or add a machine with a GPU to the cluster."),
    (("--ray", "--ray-cpus-per-task", "3"), "--ray-cpus-per-task 3 is more CPUs than this machine has (2): use 2 "
                                            "or fewer."),
    (("--ray", "--ray-cpus-per-task", "0"), "--ray-cpus-per-task must be at least 1, not 0."),
    (("--ray-cpus-per-task", "1"), "--ray-cpus-per-task only applies to sweeps on Ray: add --ray, or leave it out."),
])
@pytest.mark.slow
def test_what_the_cluster_cannot_run_is_refused_before_anything_is_written(folder, tmp_path, capsys, ray_local,
                                                                          extra, message):
    assert cli.main(_sweep_args(folder, tmp_path, *extra)) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not (tmp_path / "o").exists()


NO_RAY = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "ray":
            raise ImportError("ray is blocked")
sys.meta_path.insert(0, Block())
import asr_core
for m in pkgutil.walk_packages(asr_core.__path__, "asr_core."):
    importlib.import_module(m.name)
from asr_core import cli
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_without_ray_the_library_imports_and_the_sweep_says_what_to_install(folder, tmp_path):
    done = subprocess.run([sys.executable, "-c", NO_RAY, *_sweep_args(folder, tmp_path, "--ray")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.endswith(f"{cluster.INSTALL} (or pip install 'asr-cost-explorer[ray]'), then run the same "
                                f"command again.\n")


# --- merging sweeps from several machines -----------------------------------------------------------------------

def _from(host: str):
    def runner(shared, cell, first):
        return sweep.failed_row(shared.grid, cell, "", status="ok", host=host)
    return runner


def _sweep_on(folder, tmp_path, name: str, host: str, **kw) -> Path:
    out = tmp_path / name
    sweep.run_sweep(_small(folder, tmp_path, **kw), out, progress=False, cell_runner=_from(host))
    return out


def test_merge_keeps_the_same_rows_from_different_hosts(folder, tmp_path, capsys):
    a = _sweep_on(folder, tmp_path, "a.parquet", "gpu-box-1")
    b = _sweep_on(folder, tmp_path, "b.csv", "gpu-box-2")  # a CSV sweep holds its transcripts as text
    out = tmp_path / "all.parquet"
    assert cli.main(["merge", str(a), str(b), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"4 rows from 2 files in {out}; hosts: gpu-box-1, gpu-box-2\n"
    merged = pd.read_parquet(out)
    assert sorted(merged["host"]) == ["gpu-box-1"] * 2 + ["gpu-box-2"] * 2
    assert _keys(merged) == _keys(sweep_table.read_rows(a)) == _keys(sweep_table.read_rows(b))
    runs = json.loads(sweep.provenance_path(out).read_text())["runs"]
    assert [r.get("source_file") for r in runs] == [str(a), str(b), None]
    assert runs[-1]["merge"] == [{"file": str(a), "rows": 2, "hosts": ["gpu-box-1"]},
                                 {"file": str(b), "rows": 2, "hosts": ["gpu-box-2"]}]
    assert runs[-1]["hosts"] == ["gpu-box-1", "gpu-box-2"]


def test_merge_into_one_of_its_inputs_and_a_sweep_resumes_there(folder, tmp_path):
    a = _sweep_on(folder, tmp_path, "a.parquet", "box-1")
    b = _sweep_on(folder, tmp_path, "b.parquet", "box-2", batch_sizes=(4,))
    assert len(cluster.merge([a, b], a)) == 3
    table = sweep.run_sweep(_small(folder, tmp_path, batch_sizes=(1, 2, 4, 8)), a, progress=False,
                            cell_runner=_from("box-1"))
    assert table.attrs[sweep.NEW_ROWS] == 1 and sorted(table["batch_size"]) == [1, 2, 4, 8]  # 4 came from box-2


def test_merge_refuses_a_row_one_host_measured_twice(folder, tmp_path, capsys):
    a = _sweep_on(folder, tmp_path, "a.parquet", "box-1")
    b = _sweep_on(folder, tmp_path, "b.parquet", "box-1", batch_sizes=(2, 4))
    out = tmp_path / "all.parquet"
    assert cli.main(["merge", str(a), str(b), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: Row model=openai/whisper-tiny, runtime=transformers, weights=synthetic, device=cpu, precision=fp32, "
        f"batch_size=2, bucket=5s, repeat=0 from host box-1 is in {a} and {b}: one machine measured it twice, so "
        f"keep it in one file only and merge again.\n")
    assert not out.exists() and not sweep.provenance_path(out).exists()


def test_merge_refuses_columns_of_different_kinds(folder, tmp_path, capsys):
    a = _sweep_on(folder, tmp_path, "a.parquet", "box-1")
    b = tmp_path / "b.csv"
    pd.read_parquet(a).assign(host="box-2", latency_s="fast").to_csv(b, index=False)
    assert cli.main(["merge", str(a), str(b), "--out", str(tmp_path / "all.parquet")]) == 2
    assert capsys.readouterr().err == (f"error: {b}: latency_s must be a finite number ≥ 0 or empty, but row 1 has "
                                       f"fast; fix that row or run the sweep again.\n")


@pytest.mark.parametrize("case, message", [
    ("no key", "{b} is not a sweep table (no repeat column): merge only files that `asr-profile sweep` wrote."),
    ("missing", "Sweep file {tmp}/gone.parquet does not exist: check the path."),
    ("twice", "{a} is named twice: name each sweep file once."),
    ("out exists", "{tmp}/all.parquet already exists: name it among the files to merge (to merge into it) or choose "
                   "another --out."),
    ("not a sweep", "{tmp}/notes.txt is not a sweep file: use the .parquet or .csv files that `asr-profile sweep` "
                    "wrote."),
])
def test_merge_refuses_inputs_it_cannot_use(folder, tmp_path, capsys, case, message):
    a = _sweep_on(folder, tmp_path, "a.parquet", "box-1")
    b = tmp_path / "b.parquet"
    pd.read_parquet(a).drop(columns="repeat").assign(host="box-2").to_parquet(b)
    out = tmp_path / "all.parquet"
    inputs = {"no key": [a, b], "missing": [a, tmp_path / "gone.parquet"], "twice": [a, a], "out exists": [a, b],
              "not a sweep": [a, tmp_path / "notes.txt"]}[case]
    if case == "out exists":
        out.write_bytes(b"keep me")
    assert cli.main(["merge", *map(str, inputs), "--out", str(out)]) == 2
    assert capsys.readouterr().err == "error: " + message.format(a=a, b=b, tmp=tmp_path) + "\n"
    assert not out.exists() or out.read_bytes() == b"keep me"


# --- merge reads what the app reads, and never writes what it cannot use (issue 22) ------------------------------

def _fake(tmp_path, name: str, host: str, **columns) -> Path:
    from fakes import fake_sweep
    path = tmp_path / name
    df = fake_sweep().assign(host=host, **columns)
    df.to_csv(path, index=False) if path.suffix == ".csv" else df.to_parquet(path)
    return path


def test_merge_reads_through_the_bounded_reader(tmp_path):
    """A 1 MB string repeated in 1,000 rows is a small parquet file and 1 GB once expanded: the bounded reader cuts
    each text to MAX_TEXT_CHARS before it expands the dictionary, as the app does."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from fakes import fake_sweep
    bomb = tmp_path / "bomb.parquet"
    rows = fake_sweep().assign(host="x").sample(1000, replace=True, random_state=0).reset_index(drop=True)
    rows["repeat"] = range(1000)
    pq.write_table(pa.Table.from_pandas(rows.assign(error="e" * 2**20)), bomb)
    assert bomb.stat().st_size < 5 * 2**20
    merged = cluster.merge([bomb], tmp_path / "all.parquet")
    assert len(merged) == 1000 and merged["error"].str.len().max() == sweep_table.MAX_TEXT_CHARS


def test_merge_keeps_transcripts_and_bounds_them_too(tmp_path, capsys):
    a, b = _fake(tmp_path, "a.parquet", "box-1"), _fake(tmp_path, "b.csv", "box-2")
    assert cli.main(["merge", str(a), str(b), "--out", str(tmp_path / "all.parquet")]) == 0
    merged = pd.read_parquet(tmp_path / "all.parquet")
    assert merged["hypotheses"].map(len).gt(0).any() and len(merged) == 2 * len(pd.read_parquet(a))
    big = tmp_path / "big.parquet"
    pd.read_parquet(a).assign(hypotheses=[["t" * 2**20] * 2] * len(pd.read_parquet(a))).to_parquet(big)
    assert cli.main(["merge", str(big), "--out", str(tmp_path / "x.parquet")]) == 2  # 258 MiB of transcripts
    assert "its columns take" in capsys.readouterr().err


@pytest.mark.parametrize("case, message", [
    ("provenance", "{a_prov} is not a provenance record (a JSON object with a list \"runs\" of objects): fix or move it "
                   "away, then merge again."),
    ("nan batch", "{nan}: batch_size must be a whole number ≥ 1, but row 1 has nan; fix that row or run the sweep "
                  "again."),
    ("huge batch", "{huge}: batch_size must be at most 1,000,000, but row 1 has 1e+300; fix that row or run the "
                   "sweep again."),
    ("all empty", "Every file to merge is empty ({empty}): nothing to merge; merge files that hold rows."),
])
def test_merge_refuses_bad_inputs_in_one_sentence(tmp_path, capsys, case, message):
    from fakes import fake_sweep
    a = _fake(tmp_path, "a.parquet", "box-1")
    sweep.provenance_path(a).write_text('{"runs": [1, "x"]}')
    nan, huge, empty = tmp_path / "nan.parquet", tmp_path / "huge.csv", tmp_path / "empty.parquet"
    fake_sweep().astype({"batch_size": float}).assign(batch_size=float("nan")).to_parquet(nan)
    fake_sweep().astype({"batch_size": float}).assign(batch_size=1e300).to_csv(huge, index=False)
    fake_sweep().iloc[:0].to_parquet(empty)
    inputs = {"provenance": [a], "nan batch": [nan], "huge batch": [huge], "all empty": [empty]}[case]
    out = tmp_path / "all.parquet"
    assert cli.main(["merge", *map(str, inputs), "--out", str(out)]) == 2
    assert capsys.readouterr().err == "error: " + message.format(
        a_prov=sweep.provenance_path(a), nan=nan, huge=huge, empty=empty) + "\n"
    assert not out.exists()


def test_an_empty_input_beside_others_is_merged(tmp_path):
    from fakes import fake_sweep
    empty = tmp_path / "empty.parquet"
    fake_sweep().iloc[:0].to_parquet(empty)
    a = _fake(tmp_path, "a.parquet", "box-1")
    assert len(cluster.merge([empty, a], tmp_path / "all.parquet")) == len(pd.read_parquet(a))


def test_a_file_merged_into_itself_adds_no_provenance_record(tmp_path):
    a = _fake(tmp_path, "a.parquet", "box-1")
    sweep.write_runs(sweep.provenance_path(a), [{"command": "asr-profile sweep", "hosts": ["box-1"]}])
    for _ in range(3):
        assert len(cluster.merge([a], a)) == len(pd.read_parquet(a))
    runs = json.loads(sweep.provenance_path(a).read_text())["runs"]
    assert runs == [{"source_file": str(a), "command": "asr-profile sweep", "hosts": ["box-1"]}]
