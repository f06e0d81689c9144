"""Sweeps on several devices or machines: a grid's cells as Ray tasks, and sweep files merged into one.

``on_ray`` connects to Ray (a new local instance, or a running cluster) and gives ``sweep.run_sweep`` an
``execute`` that runs each *model group* (cells that share a loaded model: ``sweep.MODEL_KEYS``) as one
Ray task holding the resources its measurements need, so two measurements never share a device:

- a CUDA group holds one GPU (``num_gpus=1``; Ray hides the other GPUs from it) and GPU_TASK_CPUS CPUs;
- a CPU group holds ``cpus_per_task`` CPUs, by default every CPU of the largest machine, so a CPU
  measurement has a whole machine to itself and never shares its cores, its memory bandwidth or its
  RAPL counter with another measurement (a CPU group then waits for a machine with nothing running).

The task is a generator: each row comes back to the driver as soon as its cell is done, and the driver
writes it into the same locked, atomically replaced, resumable sweep file as a sweep on one machine. A
task whose worker dies is run once more (TASK_RETRIES) from its first cell, and the rows that already came
back are not sent twice; if it dies again, its remaining cells become error rows ("worker died: ...") and
the other tasks go on.

``merge`` combines sweep files written on different machines: the same row (``sweep_table.ROW_KEYS``)
may come from two hosts, never twice from one.

Ray is optional and imported only here, inside functions: ``import asr_core`` works without it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import socket
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd

from . import sweep, system
from .clips import default_cache_dir
from .errors import SweepError, SweepFileError
from .sweep import Grid, Row
from .sweep_table import (FILLED, HOST, MERGE_ADVICE, ROW_KEYS, SOURCE_FILE, SUFFIXES, file_columns, merge_rows, read,
                          read_transcripts, write_atomic)

LOCAL = "local"  # --ray without an address: ray.init's own name for a new instance on this machine
INSTALL = "pip install ray"
WORKER_DIED = "worker died"
TASK_RETRIES = 1  # a task whose worker dies runs once more; then its unfinished cells become error rows
GPU_TASK_CPUS = 1  # a CUDA group's task holds one GPU and this many CPUs
LOCAL_OBJECT_STORE_BYTES = 200 * 1024**2  # a local instance's object store: only rows travel through it
PROBE_TIMEOUT_S = 5.0  # Ray itself waits minutes for an address where nothing answers


class ClusterError(SweepError):
    """Ray missing, a cluster that cannot be reached, or a grid the cluster cannot run."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """What each task asks Ray for."""

    cpus_per_task: int  # a CPU group's CPUs
    has_gpus: bool  # whether device "auto" means a GPU (it does wherever the cluster has one)

    def resources(self, device: str) -> dict[str, int]:
        if device == "cuda" or (device == "auto" and self.has_gpus):
            return {"num_gpus": 1, "num_cpus": GPU_TASK_CPUS}
        return {"num_gpus": 0, "num_cpus": self.cpus_per_task}


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--ray needs Ray, which is not installed here: {INSTALL} (or pip install "
                           f"'asr-cost-explorer[ray]'), then run the same command again.") from None
    return ray


@contextlib.contextmanager
def on_ray(grid: Grid, address: str = LOCAL, cpus_per_task: int | None = None) -> Iterator[sweep.Execute]:
    """Connected to Ray for the body, an execute for sweep.run_sweep that runs the grid's cells as Ray tasks.

    address: LOCAL starts a new local instance with this machine's GPUs and CPUs (stopped again at the
    end); anything else is passed to ``ray.init(address=...)`` (``HEAD:6379``, ``auto``). Already connected
    (a test, a notebook), that connection is used and left open. cpus_per_task: a CPU group's CPUs
    (default: every CPU of the largest machine).
    """
    ray = import_ray()
    started = _connect(ray, address)
    try:
        plan = _plan(ray, grid, address, cpus_per_task)
        yield functools.partial(run_on_ray, plan=plan)
    finally:
        if started:
            ray.shutdown()


def _connect(ray: Any, address: str) -> bool:
    """Connect (LOCAL: start an instance); True if this call started the connection and must end it."""
    if ray.is_initialized():
        return False
    if address != LOCAL:
        _probe(address)
    local = {"include_dashboard": False, "object_store_memory": LOCAL_OBJECT_STORE_BYTES}
    try:
        ray.init(address=address, **(local if address == LOCAL else {}))
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if address == LOCAL:
            raise ClusterError(f"Could not start a local Ray instance ({_first_line(exc)}): run without --ray, or "
                               f"see what `ray start --head` says here.") from None
        raise ClusterError(f"Could not connect to the Ray cluster at {address} ({_first_line(exc)}): check the "
                           f"address, and if the cluster uses token authentication set RAY_AUTH_MODE=token here "
                           f"with its token (`ray get-auth-token` on the head machine).") from None
    return True


def _probe(address: str) -> None:
    """Refuse at once a HOST:PORT address where nothing answers (Ray would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # "auto", "ray://...": Ray's own rules
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(f"Nothing answers at {address} ({exc.strerror or exc}): start the cluster with "
                           f"`ray start --head` on its head machine, or check the address.") from None


def _plan(ray: Any, grid: Grid, address: str, cpus_per_task: int | None) -> Plan:
    """The tasks' resources, refused here when no machine of the cluster could ever run them."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    largest = int(max((r.get("CPU", 0) for r in nodes), default=0))
    gpus = sum(r.get("GPU", 0) for r in nodes)
    where = "this machine" if address == LOCAL else f"the Ray cluster at {address}"
    if "cuda" in grid.devices and not gpus:
        raise ClusterError(f"The grid has device cuda but {where} has no GPU: leave cuda out of --devices, or add "
                           f"a machine with a GPU to the cluster.")
    cpus = largest if cpus_per_task is None else cpus_per_task
    if cpus < 1:
        raise ClusterError(f"--ray-cpus-per-task must be at least 1, not {cpus}.")
    if cpus > largest:
        biggest = where if address == LOCAL else f"the largest machine of {where}"
        raise ClusterError(f"--ray-cpus-per-task {cpus} is more CPUs than {biggest} has ({largest}): use {largest} "
                           f"or fewer.")
    return Plan(cpus_per_task=cpus, has_gpus=gpus > 0)


def run_on_ray(grid: Grid, cells: list[Row], cell_runner: sweep.CellRunner = sweep.run_cell, *,
               plan: Plan) -> Iterator[Row]:
    """Each model group as one Ray task holding its device; rows as they come back, from whichever task."""
    ray = import_ray()
    sweep.load_shared(grid, cells)  # a clip source that cannot be read stops the sweep here, with its message
    # Paths as this process sees them: the clip cache it would use, relative paths from its folder.
    shipped = dataclasses.replace(grid, cache_dir=grid.cache_dir or str(default_cache_dir()))
    task, folder = ray.remote(_group_rows), os.getcwd()
    running = {}
    for group in sweep.model_groups(cells):
        resources = plan.resources(group[0]["device"])
        options = task.options(max_retries=TASK_RETRIES, **resources)
        running[options.remote(shipped, group, cell_runner, resources["num_cpus"], folder)] = group
    yield from _as_they_come(ray, grid, running)


def _group_rows(grid: Grid, cells: list[Row], cell_runner: sweep.CellRunner, cpus: int,
                folder: str) -> Iterator[Row]:
    """The Ray task: one model group's rows, each sent back as soon as it is done."""
    import psutil
    import torch
    if os.path.isdir(folder):  # the driver's folder, where this machine has it: relative paths mean the same
        os.chdir(folder)
    # The threads a plain sweep would use, within the task's CPUs; a reused worker keeps no earlier count.
    torch.set_num_threads(min(cpus, psutil.cpu_count(logical=False) or cpus))
    yield from sweep.run_here(grid, cells, cell_runner)


def _as_they_come(ray: Any, grid: Grid, running: dict[Any, list[Row]]) -> Iterator[Row]:
    """Rows from every task as each arrives; a task that fails for good leaves error rows for its other cells."""
    pending, received = list(running), dict.fromkeys(running, 0)
    while pending:
        [task], pending = ray.wait(pending, num_returns=1)
        row, why = _next_row(ray, task)
        if row is None:
            yield from (sweep.failed_row(grid, cell, why) for cell in running[task][received[task]:])
            continue
        received[task] += 1
        pending.append(task)
        yield row


def _next_row(ray: Any, task: Any) -> tuple[Row | None, str]:
    """The task's next row, or None and why there is none."""
    try:
        return ray.get(next(task)), ""
    except StopIteration:
        return None, f"{WORKER_DIED}: its task ended before this cell"
    except ray.exceptions.RayTaskError as exc:  # the task raised: recorded as run_cell records an exception
        cause = getattr(exc, "cause", None) or exc
        return None, f"{type(cause).__name__}: {_first_line(cause)}"
    except ray.exceptions.RayError as exc:  # the worker or its machine died, twice
        return None, f"{WORKER_DIED}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# --- merging sweep files from several machines ------------------------------------------------------------

def merge(inputs: Sequence[str | Path], out: str | Path, command: str = "") -> pd.DataFrame:
    """Combine sweep files from several machines into out (written atomically), with a merged provenance.

    out may be one of the inputs (merging into it); any other existing file is refused, not overwritten.
    """
    inputs, out = [Path(p) for p in inputs], Path(out)
    _check_paths(inputs, out)
    with sweep.writing(out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
    with sweep.exclusive(out):
        tables = {str(p): _read_input(p) for p in inputs}
        if not any(len(df) for df in tables.values()):
            raise SweepError(f"Every file to merge is empty ({', '.join(tables)}): nothing to merge; merge files "
                             f"that hold rows.")
        try:
            merged = merge_rows(tables)
        except SweepFileError as exc:
            raise SweepError(str(exc)) from None
        runs = _input_runs(inputs)
        if any(p.resolve() != out.resolve() for p in inputs):  # a file merged into itself adds nothing to record
            runs.append(_merge_run(tables, command))
        with sweep.writing(out):
            write_atomic(merged, out)
        sweep.write_runs(sweep.provenance_path(out), runs)
    return merged


def _check_paths(inputs: list[Path], out: Path) -> None:
    for p in (*inputs, out):
        if p.suffix not in SUFFIXES:
            raise SweepError(f"{p} is not a sweep file: use the .parquet or .csv files that `asr-profile sweep` "
                             f"wrote.")
    resolved = [p.resolve() for p in inputs]
    for p, r in zip(inputs, resolved):
        if resolved.count(r) > 1:
            raise SweepError(f"{p} is named twice: name each sweep file once.")
        if not p.is_file():
            raise FileNotFoundError(f"Sweep file {p} does not exist: check the path.")
    if out.exists() and out.resolve() not in resolved:
        raise SweepError(f"{out} already exists: name it among the files to merge (to merge into it) or choose "
                         f"another --out.")


def _read_input(path: Path) -> pd.DataFrame:
    """One input through the app's bounded, validating reader (sweep_table.read), with its transcripts."""
    try:
        table = read(path, str(path), strict=True).drop(columns=[SOURCE_FILE])
        transcripts = read_transcripts(path, len(table))
    except SweepFileError as exc:
        raise SweepError(str(exc)) from None
    # read() fills what older files lack; a row key no sweep ever left out means it is not a sweep file
    columns = set(file_columns(path))  # read once, not once per row key
    if missing := [k for k in ROW_KEYS if k not in FILLED and k not in columns]:
        raise SweepError(f"{path} is not a sweep table (no {', '.join(missing)} column): {MERGE_ADVICE}.")
    return table.assign(**{c: transcripts[c].to_numpy() for c in transcripts.columns})


def _input_runs(inputs: list[Path]) -> list[dict[str, Any]]:
    """Every input's provenance runs, each tagged with the file it came from (kept if already tagged), each once."""
    runs = [{"source_file": str(p), **run} for p in inputs
            for run in sweep.read_runs(sweep.provenance_path(p), "fix or move it away, then merge again")]
    return list({json.dumps(run, sort_keys=True, default=str): run for run in runs}.values())


def _merge_run(tables: dict[str, pd.DataFrame], command: str) -> dict[str, Any]:
    """The merge's own provenance record: its inputs, their rows and the hosts that measured them."""
    files = [{"file": name, "rows": len(df), "hosts": _hosts(df)} for name, df in tables.items()]
    return {"merge": files, "hosts": sorted({h for f in files for h in f["hosts"]}), "date": system.now_iso(),
            "command": command, "git_commit": system.git_commit()}


def _hosts(df: pd.DataFrame) -> list[str]:
    return sorted({str(h) for h in df[HOST].dropna() if str(h)}) if HOST in df.columns else []
