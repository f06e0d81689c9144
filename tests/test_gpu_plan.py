"""precomputed/gpu_plan.py, the budgeted GPU plan, as a dry run on the CPU: a tiny plan of whisper-tiny (synthetic),
one bucket, one clip, from a clip source that is "absent" (as ../shared is on the device) but carried as a copy."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "precomputed" / "gpu_plan.py"
pytestmark = pytest.mark.slow  # the plan runs in subprocesses


def grid(path: Path, source: Path, cache: Path, batch_sizes: list[int], precision: str = "fp32",
         model: str = "openai/whisper-tiny") -> None:
    path.write_text(f"""[sweep]
models = ["{model}"]
devices = ["cuda"]
precisions = ["{precision}"]
weights = ["synthetic"]
buckets = ["5s"]
batch_sizes = {batch_sizes}
clips_per_cell = 1
repeats = 1
clip_source = "{source}"
cache_dir = "{cache}"
""")


def plan(tmp: Path, *flags: str) -> tuple[dict, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("GPU_PLAN_T0", None)
    proc = subprocess.run([sys.executable, str(PLAN), "--device", "cpu", "--grids", str(tmp / "grids"),
                           "--carry", str(tmp / "carry"), "--out", str(tmp / "work" / "gpu.parquet"),
                           "--out-dir", str(tmp / "OUT"), *flags],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((tmp / "work" / "gpu_plan.json").read_text()), proc.stdout


def statuses(summary: dict) -> list[tuple[str, str]]:
    return [(s["step"], s["status"]) for s in summary["steps"]]


def test_plan_runs_in_order_stops_at_the_margin_and_resumes(tmp_path, clip_folder):
    # ../shared is absent on the device: the grid names a source folder that does not exist, and the carried copy
    # (same folder name) is what the clip cache is built from
    absent = tmp_path / "shared" / "speech" / "talks"
    shutil.copytree(clip_folder, tmp_path / "carry" / "talks")
    grids, cache = tmp_path / "grids", tmp_path / "cache"
    grids.mkdir()
    grid(grids / "gpu-fp16-core.toml", absent, cache, [1])
    grid(grids / "gpu-fp16.toml", absent, cache, [1, 2])  # step (a)'s row is resumed, batch 2 is new
    grid(grids / "gpu-fp32.toml", absent, cache, [1], precision="fp16")  # for the budget check
    grid(grids / "gpu-tiny-en-real.toml", absent, cache, [1], model="./no-such-checkpoint")
    out = tmp_path / "work" / "gpu.parquet"

    summary, log = plan(tmp_path, "--steps", "fp16-core,fp16-rest,tiny-en-real", "--budget-s", "200",
                        "--margin-s", "10")
    assert statuses(summary) == [("fp16-core", "complete"), ("fp16-rest", "complete"),
                                 ("tiny-en-real", "skipped")], log
    assert "./no-such-checkpoint is absent" in summary["steps"][2]["note"]
    rows = pd.read_parquet(out)
    assert len(rows) == 2 and set(rows["status"]) == {"ok"}, rows[["status", "error"]]
    assert list(rows["batch_size"]) == [1, 2]  # written in priority order: step (a) first
    assert set(rows["clip_source"]) == {str(absent)} and set(rows["device"]) == {"cpu"}
    assert log.index("fp16-core: complete") < log.index("fp16-rest: complete")
    for name in ("gpu.parquet", "gpu.provenance.json", "gpu_plan.log", "gpu_plan.json"):  # copied to $OUT
        assert (tmp_path / "OUT" / name).is_file(), name
    assert len(pd.read_parquet(tmp_path / "OUT" / "gpu.parquet")) == 2

    # again: every row is present, so each step is skipped without starting a sweep, and nothing is duplicated
    summary, log = plan(tmp_path, "--steps", "fp16-core,fp16-rest", "--budget-s", "200", "--margin-s", "10")
    assert statuses(summary) == [("fp16-core", "complete"), ("fp16-rest", "complete")]
    assert [s["new_rows"] for s in summary["steps"]] == [0, 0] and "$ " not in log
    assert len(pd.read_parquet(out)) == 2

    # a step with rows to measure but less than the margin left is skipped, and so is every later one
    summary, log = plan(tmp_path, "--steps", "fp16-core,fp32,runtimes", "--budget-s", "5", "--margin-s", "60")
    assert statuses(summary) == [("fp16-core", "complete"), ("fp32", "skipped"), ("runtimes", "skipped")]
    assert "< margin 60 s" in summary["steps"][1]["note"] and summary["steps"][1]["pending"] == 1
    assert "$ " not in log and len(pd.read_parquet(out)) == 2
