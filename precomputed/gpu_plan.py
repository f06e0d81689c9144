"""The GPU half of precomputed/ as one budgeted, resumable plan: run its steps in priority order, stop before the limit.

One device call (``bash precomputed/run_gpu.sh``, which calls this) measures as much as its time allows, most
important first, and hands back what it reached:

  1. fp16-core   (a) fp16 eager transformers, the six registry models, synthetic weights, 5 s / 30 s, batch 1 / 8 / 32
  2. fp16-rest   (b) the rest of the fp16 grid: 15 s / 60 s and batch 2 / 4 / 16 (the resume skips step 1's rows)
  3. fp32        (c) fp32 for the six at 30 s, batch 1 / 8
  4. runtimes    (d) whisper-small and -large-v3-turbo at 30 s, batch 1 / 8: transformers-compiled fp16,
                     ctranslate2 fp16 and int8_fp16
  5. bench-*     (e) benchmarks/runtimes.py on whisper-small batch 8, then whisper-tiny batch 1
  6. tiny-en-real (f) the real whisper-tiny.en with WER; skipped when its checkpoint folder is absent

A grid step is ``python -m asr_core sweep --config <grid> --out <out>`` (the grids are the TOML files named below,
in precomputed/grids/): rows are written as they finish, so a step stopped at its timeout keeps every finished row,
and running the plan again continues where it stopped. A step whose rows are all present is skipped without
starting a process. Before each step the time left is checked: under ``--margin-s`` (60 s) the step and every
later one are skipped; otherwise the step gets the time left less ``RESERVE_S`` (to stop it and copy), and is
stopped (SIGTERM, then SIGKILL) when that runs out. After every step the outputs are copied to ``--out-dir``
($OUT): the sweep file, its provenance, the benchmark reports, this run's log (gpu_plan.log) and a summary of the
steps (gpu_plan.json) -- at most 8 files, as the device tool hands back.

The device has no ../shared. ``--prepare`` (run here, where it is) checks that the grids' clip cache builds
(``.clip_cache/gpu``) and puts into ``.clip_cache/gpu-carry`` what the device needs: a copy of the clip source
folder (83 s of LibriSpeech FLAC, 1.7 MB: much smaller than the cache of 8 clips a bucket it makes, ~15 MB, or
those clips decoded, ~22 MB as float16 .npz) and the tokenizer files without weights (3.5 MB). That folder
travels with ``carry=[".whl", ".clip_cache/gpu-carry"]``. On the device, before each sweep, the clip cache is
built from the copy and re-homed (``localize``), so the rows keep the grid's ``clip_source`` as the CPU rows do,
and ``--tokenizer`` names the copied tokenizer when the grid's folder is absent. ``--prepare --npz`` also writes
the decoded clips to ``clips.npz`` next to the manifest: kept as a note only, since the sweep reads FLAC.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GRIDS = ROOT / "precomputed" / "grids"
DEFAULT_OUT = ROOT / "precomputed" / "gpu.parquet"
BENCH_DIR = ROOT / "benchmarks"
BUDGET_S = 540.0  # one device call runs at most 600 s: leave room for the start of the command and the copies
MARGIN_S = 60.0  # no step starts with less than this left
RESERVE_S = 20.0  # a step's timeout leaves this much of the budget, to stop it and copy what it wrote
KILL_GRACE_S = 10.0  # SIGTERM, then this long before SIGKILL
CARRY = ROOT / ".clip_cache" / "gpu-carry"  # --prepare fills it here; carry=[".clip_cache/gpu-carry"] on the device
TOKENIZER = "tokenizer"  # the carried copy of the grids' tokenizer, in CARRY
TOKENIZER_SKIP = ("model.safetensors", "pytorch_model.bin")  # the weights: not needed to count tokens
NPZ = "clips.npz"
LOG = "gpu_plan.log"
SUMMARY = "gpu_plan.json"
LABEL = {"cuda": "gpu", "cpu": "cpu-dryrun"}  # benchmarks/results-<label>-<model>-b<batch>.md
T0_ENV = "GPU_PLAN_T0"  # epoch seconds the budget counts from (run_gpu.sh sets it at its start)


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    grid: str = ""  # a TOML file in the grids folder, run with asr-profile sweep
    bench: tuple[str, int] | None = None  # (benchmarks/runtimes.py model, batch size)


PLAN = (
    Step("fp16-core", "(a) fp16 eager, six models, synthetic, 5 s/30 s, batch 1/8/32", grid="gpu-fp16-core.toml"),
    Step("fp16-rest", "(b) fp16 eager, six models, 15 s/60 s and batch 2/4/16", grid="gpu-fp16.toml"),
    Step("fp32", "(c) fp32 eager, six models, 30 s, batch 1/8", grid="gpu-fp32.toml"),
    Step("runtimes", "(d) compiled fp16, ctranslate2 fp16/int8_fp16, openai-whisper fp16; small, large-v3-turbo", grid="gpu-runtimes.toml"),
    Step("bench-small-b8", "(e) benchmarks/runtimes.py whisper-small batch 8", bench=("whisper-small", 8)),
    Step("bench-tiny-b1", "(e) benchmarks/runtimes.py whisper-tiny batch 1", bench=("whisper-tiny", 1)),
    Step("tiny-en-real", "(f) the real whisper-tiny.en, WER (needs its checkpoint)", grid="gpu-tiny-en-real.toml"),
)


class Plan:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out = Path(args.out).resolve()
        self.out_dir = Path(args.out_dir).resolve() if args.out_dir else None
        t0 = float(os.environ.get(T0_ENV) or time.time())
        self.deadline = t0 + args.budget_s
        self.log_path = self.out.parent / LOG
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = self.log_path.open("a", encoding="utf-8")
        self.results: list[dict[str, Any]] = []
        self.stopped = False

    def left(self) -> float:
        return self.deadline - time.time()

    def log(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')} {self.left():5.0f} s left] {msg}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    # --- the steps ----------------------------------------------------------------------------------------------

    def run(self, steps: list[Step]) -> int:
        self.log(f"plan: {', '.join(s.name for s in steps)}; device {self.args.device}; out {self.out}; budget "
                 f"{self.args.budget_s:.0f} s, margin {self.args.margin_s:.0f} s")
        for step in steps:
            started = time.time()
            result = {"step": step.name, "what": step.what, **self.one(step)}
            result["seconds"] = round(time.time() - started, 1)
            self.results.append(result)
            self.log(f"{step.name}: {result['status']}" + (f" ({result['note']})" if result.get("note") else ""))
            self.copy_out()
        self.log("done: " + "; ".join(f"{r['step']} {r['status']}" for r in self.results))
        self.copy_out()
        return 0

    def one(self, step: Step) -> dict[str, Any]:
        if self.stopped:
            return {"status": "skipped", "note": "an earlier step ran out of time"}
        try:
            if step.grid:
                return self.grid_step(step)
            return self.bench_step(step)
        except Exception as exc:  # noqa: BLE001 - one broken step must not stop the ones after it
            return {"status": "error", "note": f"{type(exc).__name__}: {exc}"}

    def budget_for(self) -> float | None:
        """The step's timeout, or None (and every later step skipped) when less than the margin is left."""
        left = self.left()
        if left < self.args.margin_s:
            self.stopped = True
            return None
        return max(1.0, left - min(RESERVE_S, self.args.margin_s / 2))

    def grid_step(self, step: Step) -> dict[str, Any]:
        from asr_core import sweep
        path = Path(self.args.grids) / step.grid
        grid = sweep.grid_from_toml(path, devices=(self.args.device,))
        if absent := [m for m in grid.models if m.startswith((".", "/")) and not Path(m).is_dir()]:
            return {"status": "skipped", "note": f"model folder {', '.join(absent)} is absent"}
        total, todo = pending(grid, self.out)
        if not todo:
            return {"status": "complete", "rows": total, "new_rows": 0, "note": "all rows already present"}
        if (timeout := self.budget_for()) is None:
            return {"status": "skipped", "note": f"{self.left():.0f} s left < margin {self.args.margin_s:.0f} s",
                    "rows": total, "pending": todo}
        cmd = [sys.executable, "-m", "asr_core", "sweep", "--config", str(path), "--out", str(self.out),
               "--devices", self.args.device, *localize(grid, Path(self.args.carry))]
        before = rows_in(self.out)
        rc = self.call(cmd, timeout)
        new = new_rows(self.out, before)
        _, still = pending(grid, self.out)
        status = "complete" if not still else ("timeout" if rc == "timeout" else f"incomplete (exit {rc})")
        if rc == "timeout":
            self.stopped = True
        failed = new[new["status"] != "ok"] if len(new) else new
        note = (f"{len(failed)} of {len(new)} new rows failed, e.g. {failed['error'].iloc[0]}"
                if len(failed) else "")
        return {"status": status, "rows": total, "new_rows": len(new), "failed_rows": len(failed), "pending": still,
                "exit": rc, "note": note}

    def bench_step(self, step: Step) -> dict[str, Any]:
        model, batch = step.bench
        report = Path(self.args.bench_dir) / f"results-{LABEL[self.args.device]}-{model}-b{batch}.md"
        if report.is_file():
            return {"status": "complete", "note": f"{report.name} already there"}
        if (timeout := self.budget_for()) is None:
            return {"status": "skipped", "note": f"{self.left():.0f} s left < margin {self.args.margin_s:.0f} s"}
        partial = report.with_name(report.stem + ".partial.md")  # the benchmark rewrites it after every row
        cmd = [sys.executable, str(ROOT / "benchmarks" / "runtimes.py"), "--device", self.args.device, "--models",
               model, "--batch-sizes", str(batch), "--runs", str(self.args.bench_runs), "--out", str(partial)]
        rc = self.call(cmd, timeout)
        if rc == 0 and partial.is_file():
            partial.replace(report)
            if partial.with_suffix(".json").is_file():
                partial.with_suffix(".json").replace(report.with_suffix(".json"))
            return {"status": "complete", "exit": rc, "note": report.name}
        if rc == "timeout":
            self.stopped = True
        return {"status": "timeout" if rc == "timeout" else f"incomplete (exit {rc})", "exit": rc,
                "note": f"what it measured is in {partial.name}" if partial.is_file() else ""}

    def call(self, cmd: list[str], timeout: float) -> int | str:
        """Run cmd from the repository root, its output into the log, stopped after timeout seconds."""
        self.log(f"$ {' '.join(cmd)}   (timeout {timeout:.0f} s)")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_MININTERVAL": "30",
               "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        reader = threading.Thread(target=self._echo, args=(proc.stdout,), daemon=True)
        reader.start()
        try:
            rc: int | str = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.log(f"time's up after {timeout:.0f} s: stopping it (finished rows are kept)")
            stop(proc)
            rc = "timeout"
        reader.join(timeout=5)
        return rc

    def _echo(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip().split("\r")[-1]  # a progress bar: its last state
            if text:
                print("    " + text, flush=True)
                self.log_file.write("    " + text + "\n")
        self.log_file.flush()

    # --- what comes back ----------------------------------------------------------------------------------------

    def copy_out(self) -> None:
        (self.out.parent / SUMMARY).write_text(json.dumps(
            {"device": self.args.device, "out": str(self.out), "budget_s": self.args.budget_s,
             "margin_s": self.args.margin_s, "steps": self.results}, indent=1) + "\n")
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        files = [self.out, self.out.with_name(self.out.stem + ".provenance.json"), self.log_path,
                 self.out.parent / SUMMARY]
        for step in PLAN:
            if step.bench:
                model, batch = step.bench
                md = Path(self.args.bench_dir) / f"results-{LABEL[self.args.device]}-{model}-b{batch}.md"
                md = md if md.is_file() else md.with_name(md.stem + ".partial.md")
                files += [md, md.with_suffix(".json")]
        for f in files:
            if f.is_file():
                shutil.copy2(f, self.out_dir / f.name)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the step's process group, then SIGKILL: the sweep writes atomically, so any moment is safe."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def rows_in(out: Path) -> int:
    from asr_core.sweep_table import read_rows
    return len(read_rows(out))


def new_rows(out: Path, before: int):
    """The rows a step added: the sweep appends, so the ones after the first `before`."""
    from asr_core.sweep_table import read_rows
    return read_rows(out).iloc[before:]


def pending(grid, out: Path) -> tuple[int, int]:
    """(the grid's rows, those not yet in out): the sweep's own resume key, without starting a sweep."""
    from asr_core.sweep_table import read_rows, row_key
    done = read_rows(out)
    finished = {row_key(r) for r in done.to_dict("records")} if not done.empty else set()
    cells = grid.cells()
    return len(cells), sum(row_key(c) not in finished for c in cells)


def localize(grid, carry: Path) -> list[str]:
    """Make the grid runnable where ../shared is absent (the device); returns extra sweep flags, if any.

    The clip source: when its folder is absent and carry holds a copy of it (same folder name, so the same clip
    labels), the grid's clip cache is built from the copy and its settings.json then names the grid's own source
    (as resolved here), so the sweep's cache check passes and the rows keep the grid's clip_source, as on the CPU.
    The tokenizer: when the grid's tokenizer folder is absent and carry holds a copy, --tokenizer names the copy.
    """
    from asr_core.clips import SETTINGS, TEDLIUM, build_clip_cache
    flags: list[str] = []
    source = Path(grid.clip_source)
    copy = carry / source.name
    if grid.clip_source != TEDLIUM and not source.is_dir() and copy.is_dir():
        cache = Path(grid.cache_dir or ".clip_cache")
        settings = cache / SETTINGS
        here = str(source.resolve())
        try:
            saved = json.loads(settings.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        if saved.get("source") != here or saved.get("per_bucket") != grid.clips_per_cell \
                or saved.get("seed") != grid.seed:
            build_clip_cache(str(copy), cache, per_bucket=grid.clips_per_cell, seed=grid.seed)
            saved = json.loads(settings.read_text(encoding="utf-8"))
            saved["source"] = here
            settings.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    if grid.tokenizer and not Path(grid.tokenizer).exists() and (carry / TOKENIZER).is_dir():
        flags += ["--tokenizer", str(carry / TOKENIZER)]
    return flags


# --- here, before a device call ---------------------------------------------------------------------------------

def prepare(steps: list[Step], grids: Path, carry: Path, npz: bool) -> int:
    """Here, with ../shared: check that every grid step's clip cache builds, and put what the device needs (the
    clip source folder, 1.7 MB of FLAC, and the tokenizer without weights, 3.5 MB) into carry; --npz: also write
    the decoded clips next to the cache's manifest (a note for later, see README.md)."""
    from asr_core import sweep
    from asr_core.clips import TEDLIUM, build_clip_cache
    done: set[tuple] = set()
    for step in steps:
        if not step.grid:
            continue
        grid = sweep.grid_from_toml(grids / step.grid)
        cache = Path(grid.cache_dir or ".clip_cache")
        key = (grid.clip_source, str(cache), grid.clips_per_cell, grid.seed)
        if key in done:
            continue
        done.add(key)
        clips = build_clip_cache(grid.clip_source, cache, per_bucket=grid.clips_per_cell, seed=grid.seed,
                                 **grid.dataset_kwargs())
        print(f"{cache}: {len(clips)} clips from {grid.clip_source}")
        if grid.clip_source != TEDLIUM and not (carry / Path(grid.clip_source).name).is_dir():
            shutil.copytree(grid.clip_source, carry / Path(grid.clip_source).name)
            print(f"{carry / Path(grid.clip_source).name}: a copy of {grid.clip_source}")
        if grid.tokenizer and Path(grid.tokenizer).is_dir() and not (carry / TOKENIZER).is_dir():
            (carry / TOKENIZER).mkdir(parents=True)
            for f in Path(grid.tokenizer).iterdir():
                if f.is_file() and f.name not in TOKENIZER_SKIP:
                    shutil.copyfile(f, carry / TOKENIZER / f.name)
            print(f"{carry / TOKENIZER}: the tokenizer of {grid.tokenizer}")
        if npz:
            write_npz(clips, cache / NPZ)
    return 0


def write_npz(clips, path: Path) -> None:
    """The decoded clips (16 kHz, float16) keyed by their cache path, and their references, in one .npz."""
    import numpy as np
    from asr_core.audio import load_audio
    arrays = {f"audio/{Path(c.path).parent.name}/{Path(c.path).stem}": load_audio(c.path, None).astype(np.float16)
              for c in clips}
    refs = {f"audio/{Path(c.path).parent.name}/{Path(c.path).stem}": c.reference for c in clips}
    np.savez_compressed(path, references=np.array(json.dumps(refs)), **arrays)
    print(f"{path}: {len(arrays)} clips, {path.stat().st_size / 2**20:.1f} MiB")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                   help="cuda (the plan); cpu: a dry run, into a scratch --out unless one is given")
    p.add_argument("--budget-s", type=float, default=BUDGET_S,
                   help=f"seconds from ${T0_ENV} (else now) the plan may take (default {BUDGET_S:.0f})")
    p.add_argument("--margin-s", type=float, default=MARGIN_S,
                   help=f"no step starts with less than this left (default {MARGIN_S:.0f})")
    p.add_argument("--out", type=Path, help="the sweep file (default precomputed/gpu.parquet; cpu: a scratch one)")
    p.add_argument("--out-dir", default=os.environ.get("OUT"), help="copy the outputs here after every step ($OUT)")
    p.add_argument("--grids", type=Path, default=GRIDS, help="the folder holding the grid files")
    p.add_argument("--bench-dir", type=Path,
                   help="where the benchmark reports go (default benchmarks/; cpu: beside the scratch --out)")
    p.add_argument("--carry", type=Path, default=CARRY,
                   help="what --prepare puts there travels to the device (default .clip_cache/gpu-carry)")
    p.add_argument("--bench-runs", type=int, default=5)
    p.add_argument("--steps", help=f"comma-separated, a subset of {', '.join(s.name for s in PLAN)} (plan order kept)")
    p.add_argument("--prepare", action="store_true", help="here, before a device call: build the carried clip cache")
    p.add_argument("--npz", action="store_true", help="with --prepare: also write the decoded clips as clips.npz")
    args = p.parse_args(argv)
    names = args.steps.split(",") if args.steps else [s.name for s in PLAN]
    if unknown := sorted(set(names) - {s.name for s in PLAN}):
        p.error(f"unknown step(s) {', '.join(unknown)}: choose from {', '.join(s.name for s in PLAN)}")
    steps = [s for s in PLAN if s.name in names]
    if args.prepare:
        return prepare(steps, args.grids, args.carry, args.npz)
    if args.out is None:
        args.out = DEFAULT_OUT if args.device == "cuda" else Path("/tmp/asr-gpu-dryrun/gpu.parquet")
    if args.bench_dir is None:
        args.bench_dir = BENCH_DIR if args.device == "cuda" else Path(args.out).parent
    return Plan(args).run(steps)


if __name__ == "__main__":
    os.chdir(ROOT)  # the grids' relative paths (clip cache, tokenizer) are the repository root's
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
