"""Resumable sweeps: models x devices x precisions x weights x buckets x batch sizes x SNRs, R repeats.

The SNR axis (``snrs``, dB; ``inf`` is clean audio, the default) mixes ``noise`` (white or babble, see
``asr_core.noise``) into each cell's clips before transcribing; every row records its ``snr_db`` and
``noise`` ("" when clean), and both are part of the row's identity, so a resume skips only what it measured.

One tidy row per (cell, repeat), written atomically after each row: the whole table goes to a
temporary file that then replaces the sweep file, so a sweep killed at any moment (even SIGKILL)
leaves a readable file without duplicates, and running the same command again skips what is done.

Files beside the sweep file ``<out>`` (e.g. ``sweep.parquet``):

- ``<out>.lock`` (``sweep.parquet.lock``): an exclusive lock (``filelock``, an OS lock the kernel drops
  when the process dies, even on SIGKILL) held for the whole of ``run_sweep``. A second sweep into the
  same file is refused at once and writes nothing. The empty file stays after the sweep; it is harmless.
- ``<stem>.provenance.json``: hardware, versions, date, commit, command and grid of every invocation,
  and the hosts that ran its rows (every row also names its ``host``), also replaced atomically.

Where the cells run is the ``execute`` argument of ``run_sweep``: ``run_here`` (the default) runs them one
after another in this process; ``cluster.on_ray`` gives one that runs them as Ray tasks on several devices or
machines. Either way the rows come back here, one at a time, and are written as above.

Nothing loads before the grid is checked (``Grid`` refuses unknown values and wrong types) and the
existing sweep and provenance files are read: a file that is not what it should be is left untouched.
A write that fails (a full disk, a read-only folder) leaves both files as they were. Each of these is a
``SweepError``: one sentence saying what to do.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import filelock
import pandas as pd

from . import runs, system
from .audio import load_audio
from .buckets import BUCKETS
from .checkpoints import token_counter
from .clips import build_clip_cache, default_cache_dir
from .errors import ModelError, SweepError, SweepFileError
from .models import DEVICES, PRECISIONS, RUNTIMES, WEIGHTS, batch_problem, combination_problem, family_of
from .noise import CLEAN, NOISE_KINDS, WHITE, recorded_kind
from .results import STATUS_ERROR, STATUS_OK, Result
from .runtimes import LoadedModel, load_model
from .sweep_table import (CELL_KEYS, HOST, ROW_KEYS, aggregate, read_rows, remove_stale_temps, replace_atomic, row_key,
                          write_atomic)

DEFAULT_OUT = "sweep.parquet"
LOCK_SUFFIX = ".lock"  # <out>.lock
PROVENANCE_SUFFIX = ".provenance.json"  # <stem>.provenance.json
NEW_ROWS = "new_rows"  # run_sweep's table.attrs key: how many rows, at its end, this run added
AXES = ("models", "devices", "precisions", "weights", "runtimes", "buckets", "batch_sizes")  # lists in a grid
COUNTS = ("clips_per_cell", "repeats", "batch_sizes")  # whole numbers of at least 1 (batch_sizes: each one)
KNOWN = {"devices": DEVICES, "precisions": tuple(PRECISIONS), "weights": WEIGHTS, "runtimes": RUNTIMES,
         "buckets": tuple(BUCKETS)}
SNRS = "snrs"  # a list of numbers (dB) or inf
OPTIONAL = ("dataset_id", "dataset_revision", "dataset_config", "dataset_split", "dataset_files")  # str or None
MOVE_AWAY = "move it away or choose another --out"
FIRST_ERRORS = 3  # distinct errors quoted when every run failed
MODEL_KEYS = runs.LOAD_KEYS  # cells that share these share a loaded model

Row = dict[str, Any]
CellRunner = Callable[[Any, Row, bool], Row]  # (what cells share, the cell, first of its cell?) -> its row
Execute = Callable[["Grid", list[Row], CellRunner], Iterable[Row]]  # runs cells somewhere, yields their rows


@dataclass(frozen=True)
class Grid:
    models: tuple[str, ...] = ("openai/whisper-tiny",)
    devices: tuple[str, ...] = ("cpu",)
    precisions: tuple[str, ...] = ("fp32",)
    weights: tuple[str, ...] = ("pretrained",)
    runtimes: tuple[str, ...] = ("transformers",)
    buckets: tuple[str, ...] = ("5s", "15s", "30s", "60s")
    batch_sizes: tuple[int, ...] = (1, 4, 8, 16, 32)
    snrs: tuple[float, ...] = (CLEAN,)  # dB; inf: clean audio, no noise added
    noise: str = WHITE  # what the finite SNRs mix in: "white" or "babble" (other clips of the source)
    clips_per_cell: int = 8
    repeats: int = 3
    clip_source: str = "tedlium"
    cache_dir: str = ""  # empty: clips.default_cache_dir() ($ASR_CLIP_CACHE, else .clip_cache)
    seed: int = 42
    tokenizer: str = ""  # synthetic Whisper: count reference tokens with this tokenizer (path or hub id)
    # TED-LIUM source options (None: the defaults documented in asr_core/tedlium.py)
    dataset_id: str | None = None
    dataset_revision: str | None = None
    dataset_config: str | None = None
    dataset_split: str | None = None
    dataset_files: str | None = None  # comma-separated parquet files or globs

    def __post_init__(self) -> None:
        """Refuse wrong types and unknown values here, before anything loads."""
        for f in dataclasses.fields(self):
            _check_setting(f.name, getattr(self, f.name), f.default)

    def dataset_kwargs(self) -> dict[str, Any]:
        return dataset_kwargs(self.dataset_id, self.dataset_revision, self.dataset_config, self.dataset_split,
                              self.dataset_files)

    def cells(self) -> list[dict[str, Any]]:
        """Every (cell, repeat), grouped so each model is loaded once per device/precision/weights.

        Combinations that can never run (see skipped) are left out rather than recorded as failures.
        """
        out = []
        for model, device, precision, weights, runtime in itertools.product(
                self.models, self.devices, self.precisions, self.weights, self.runtimes):
            if _never(model, precision, runtime):
                continue
            for bucket, batch_size, snr, repeat in itertools.product(self.buckets, self.batch_sizes, self.snrs,
                                                                     range(self.repeats)):
                if batch_problem(runtime, batch_size):
                    continue
                out.append(dict(model=model, runtime=runtime, device=device, precision=precision, weights=weights,
                                bucket=bucket, batch_size=batch_size, **noise_keys(float(snr), self.noise),
                                clip_source=self.clip_source, repeat=repeat))
        return out

    def skipped(self) -> list[str]:
        """The grid's model/precision/runtime combinations that can never run, each with the reason."""
        never = [f"{model} {precision} {runtime}: {why}"
                 for model, precision, runtime in itertools.product(self.models, self.precisions, self.runtimes)
                 if (why := _never(model, precision, runtime))]
        return never + [f"{runtime} batch {batch}: {why}"
                        for runtime, batch in itertools.product(self.runtimes, self.batch_sizes)
                        if (why := batch_problem(runtime, batch))]


def noise_keys(snr_db: float, noise: str) -> dict[str, Any]:
    """A cell's snr_db and noise as rows record them: clean audio has no noise kind."""
    return dict(snr_db=snr_db, noise=recorded_kind(snr_db, noise))


def _check_setting(name: str, value: Any, default: Any) -> None:
    if name == SNRS:
        _check_snrs(value)
    elif name == "noise" and value not in NOISE_KINDS:
        raise SweepError(f"Sweep setting noise must be {' or '.join(map(repr, NOISE_KINDS))}, not {value!r}.")
    elif name in AXES:
        _check_axis(name, value, default)
    elif name in COUNTS:
        if not _is_count(value):
            raise SweepError(f"Sweep setting {name} must be a whole number of at least 1 (e.g. {default}), "
                             f"not {value!r}.")
    elif isinstance(default, int):
        if not _is_int(value):
            raise SweepError(f"Sweep setting {name} must be a whole number (e.g. {default}), not {value!r}.")
    elif not isinstance(value, str) and not (value is None and name in OPTIONAL):
        raise SweepError(f"Sweep setting {name} must be a string, not {value!r}.")


def _check_axis(name: str, values: Any, default: tuple) -> None:
    example = json.dumps(list(default))
    if not isinstance(values, (list, tuple)):
        raise SweepError(f"Sweep setting {name} must be a list (e.g. {name} = {example}), not {values!r}.")
    if not values:
        raise SweepError(f"Sweep setting {name} is empty: give at least one value (e.g. {name} = {example}).")
    for value in values:
        if name in COUNTS and not _is_count(value):
            raise SweepError(f"Sweep setting {name} must list whole numbers of at least 1 (e.g. {name} = "
                             f"{example}), not {value!r}.")
        if name not in COUNTS and not (isinstance(value, str) and value):
            raise SweepError(f"Sweep setting {name} must list names in quotes (e.g. {name} = {example}), "
                             f"not {value!r}.")
    unknown = [v for v in values if name in KNOWN and v not in KNOWN[name]]
    if unknown:
        raise SweepError(f"Sweep setting {name} has unknown value(s) {', '.join(map(str, unknown))}: use "
                         f"{', '.join(KNOWN[name])}.")


def _check_snrs(values: Any) -> None:
    example = "snrs = [inf, 20, 10, 5, 0]"
    if not isinstance(values, (list, tuple)) or not values:
        raise SweepError(f"Sweep setting snrs must be a non-empty list of dB values (e.g. {example}), not {values!r}.")
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v)
           or v == -math.inf]
    if bad:
        raise SweepError(f"Sweep setting snrs must list numbers of dB or inf for clean audio (e.g. {example}), "
                         f"not {bad[0]!r}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not to us


def _is_count(value: Any) -> bool:
    return _is_int(value) and value >= 1


def _never(model: str, precision: str, runtime: str) -> str | None:
    try:
        return combination_problem(family_of(model), precision, runtime)
    except ModelError:  # an unknown model fails as a row, with its message
        return None


def dataset_kwargs(dataset_id: str | None, revision: str | None, config: str | None, split: str | None,
                   files: str | None) -> dict[str, Any]:
    """TED-LIUM options for clips.build_clip_cache; options left unset keep their defaults."""
    kwargs = dict(dataset_id=dataset_id, revision=revision, config=config, split=split,
                  data_files=files.split(",") if files else None)
    return {k: v for k, v in kwargs.items() if v is not None}


def grid_from_toml(path: str | Path, **overrides: Any) -> Grid:
    """The grid in a TOML file (Grid's fields as keys, at the top or under [sweep]); overrides win unless None."""
    settings = _toml_settings(Path(path))
    settings.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Grid(**settings)
    except SweepError as exc:
        raise SweepError(f"{path}: {exc}") from None


def _toml_settings(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepError(f"Grid file {path} does not exist: check the --config path.") from None
    except IsADirectoryError:
        raise SweepError(f"Grid file {path} is a folder: give --config the grid's TOML file.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SweepError(f"{path} is not valid TOML: {exc}; fix it and run again.") from None
    except OSError as exc:  # a name too long for the file system, no permission
        raise SweepError(f"Could not read grid file {path} ({exc.strerror or type(exc).__name__}): check the "
                         f"--config path.") from None
    section = data.get("sweep", data)
    allowed = [f.name for f in dataclasses.fields(Grid)]
    if not isinstance(section, dict):
        section = {"sweep": section}  # `sweep = ...` rather than a [sweep] table: reported as a bad key
    unknown = set(section) - set(allowed)
    if "sweep" in data:  # keys above [sweep] would be silently ignored
        unknown |= set(data) - {"sweep"}
    if unknown:
        raise SweepError(f"Unknown key(s) in {path}: {', '.join(sorted(unknown))}; the allowed keys are "
                         f"{', '.join(allowed)}.")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}


def provenance_path(out: Path) -> Path:
    return Path(out).with_suffix(PROVENANCE_SUFFIX)


def lock_path(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + LOCK_SUFFIX)


def write_provenance(grid: Grid, out: Path, command: str) -> Path:
    """Record hardware, versions, date, commit and grid; earlier invocations into the same file are kept.

    The hardware is this machine's; ``hosts`` (filled in by record_hosts as rows arrive) names every
    machine that ran this invocation's rows.
    """
    path = provenance_path(out)
    runs = read_runs(path)
    runs.append({"hardware": system.hardware_summary(), "versions": system.versions(),
                 "git_commit": system.git_commit(), "date": system.now_iso(), "command": command,
                 "grid": dataclasses.asdict(grid), "hosts": []})
    write_runs(path, runs)
    return path


def record_hosts(out: Path, hosts: Iterable[str]) -> None:
    """Set the hosts that ran rows in the provenance record of this invocation (the last run)."""
    path = provenance_path(out)
    runs = read_runs(path)
    runs[-1]["hosts"] = sorted(hosts)
    write_runs(path, runs)


def write_runs(path: Path, runs: list[dict[str, Any]]) -> None:
    """Replace a provenance file, atomically, by these runs."""
    text = json.dumps({"runs": runs}, indent=2)
    with writing(path):
        replace_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_runs(path: Path, advice: str = MOVE_AWAY) -> list[dict[str, Any]]:
    """The runs a provenance file holds; one that is not a provenance record stops the sweep, untouched."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_bytes())
    except ValueError:  # bad JSON or bad UTF-8
        data = None
    recorded = data.get("runs") if isinstance(data, dict) else None  # (runs is the run-path module)
    if not isinstance(recorded, list) or not all(isinstance(run, dict) for run in recorded):
        raise SweepError(f"{path} is not a provenance record (a JSON object with a list \"runs\" of objects): "
                         f"{advice}.")
    return recorded


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """A write that fails (a full disk, a read-only folder) becomes one sentence naming the file."""
    try:
        yield
    except OSError as exc:
        raise SweepError(f"Could not write {path} ({exc.strerror or exc}): free some disk space, make the folder "
                         f"writable or choose another --out, then run the same command again to resume.") from None


@contextlib.contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold out's lock file while the body runs; if another sweep holds it, refuse at once."""
    lock = filelock.FileLock(lock_path(out), timeout=0)
    with writing(lock_path(out)):
        try:
            lock.acquire()
        except filelock.Timeout:  # a TimeoutError, so an OSError: caught before writing sees it
            raise SweepError(f"{out} is being written by another sweep (it holds {lock_path(out)}): wait for "
                             f"that sweep to finish or choose another --out.") from None
    try:
        yield
    finally:
        lock.release()


class _Loaded:
    """What consecutive cells share: the clips of each bucket, and the one model loaded now."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self._clips: dict[str, tuple[list, list[str]]] = {}
        self._model_key: tuple | None = None
        self._model: Any = None
        self.token_counter = token_counter(grid.tokenizer) if grid.tokenizer else None

    def request(self, cell: Row, first: bool) -> runs.Request:
        """The run a (cell, repeat) asks for: the bucket's clean clips (runs.prepare mixes the cell's noise in,
        babble from every clip of the source) and, on a cell's first repeat, the warm-up and FLOP counting."""
        clips, refs = self.clips(cell["bucket"])
        if not clips:
            raise ValueError(f"no clips in bucket {cell['bucket']} from {self.grid.clip_source}")
        babble = cell.get("snr_db", CLEAN) != CLEAN and self.grid.noise != WHITE
        return cell_request(self.grid, cell, clips=tuple(clips), references=tuple(refs), warmup=first,
                            count_flops=first, token_counter=self.token_counter,
                            babble_from=tuple(self._babble_sources()) if babble else None)

    def clips(self, bucket: str) -> tuple[list, list[str]]:
        """The bucket's clips (clean, decoded) and their references."""
        if bucket not in self._clips:
            if not self._clips:
                self._all = build_clip_cache(self.grid.clip_source, self.grid.cache_dir or default_cache_dir(),
                                             per_bucket=self.grid.clips_per_cell, seed=self.grid.seed,
                                             **self.grid.dataset_kwargs())
            chosen = [c for c in self._all if c.bucket == bucket][: self.grid.clips_per_cell]
            self._clips[bucket] = ([load_audio(c.path, None) for c in chosen], [c.reference for c in chosen])
        return self._clips[bucket]

    def _babble_sources(self) -> list:
        """Every clip of the source, decoded: babble's other talkers (a clip never babbles over itself)."""
        return [a for b in dict.fromkeys(c.bucket for c in self._all) for a in self.clips(b)[0]]

    def model(self, request: runs.Request) -> LoadedModel:
        """The request's model: the one loaded now, or loaded in its place."""
        key = request.load_args
        if key != self._model_key:
            self._model, self._model_key = None, None
            gc.collect()
            _empty_cuda_cache()
            self._model = load_model(*key)
            self._model_key = key  # only once loaded: a model that failed to load is tried again, not None
        return self._model


def cell_request(grid: Grid, cell: Row, **more: Any) -> runs.Request:
    """A cell as the run it asks for; more: its clips and what to count (_Loaded.request)."""
    return runs.Request(model=cell["model"], runtime=cell["runtime"], precision=cell["precision"],
                        device=cell["device"], weights=cell["weights"], batch_size=cell["batch_size"],
                        bucket=cell["bucket"], snr_db=cell.get("snr_db", CLEAN), noise=cell.get("noise") or grid.noise,
                        noise_seed=grid.seed, **more)


def _empty_cuda_cache() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def model_groups(cells: Iterable[Row]) -> list[list[Row]]:
    """The cells split by loaded model (MODEL_KEYS), each group in its original order."""
    groups: dict[tuple, list[Row]] = {}
    for cell in cells:
        groups.setdefault(tuple(cell[k] for k in MODEL_KEYS), []).append(cell)
    return list(groups.values())


def failed_row(grid: Grid, cell: Row, error: str, status: str = STATUS_ERROR, host: str = "") -> Row:
    """The row of a cell that did not run: status and error say why (host: where it failed, if known)."""
    return cell_row(grid, cell, runs.failed(cell_request(grid, cell), error, status), host)


def run_cell(shared: _Loaded, cell: Row, first: bool) -> Row:
    """One (cell, repeat) as a row, naming the host it ran on; failures become rows with status and error."""
    host = system.host_name()
    try:
        request = shared.request(cell, first)
    except Exception as exc:  # noqa: BLE001 - a bucket without clips: recorded, and the sweep goes on
        return failed_row(shared.grid, cell, _described(exc), host=host)
    return cell_row(shared.grid, cell, runs.run(request, shared.model, describe=_described), host)


def _described(exc: BaseException) -> str:
    """How a sweep row names a failure: the exception's type, then its sentence."""
    return f"{type(exc).__name__}: {exc}"


def cell_row(grid: Grid, cell: Row, result: Result, host: str) -> Row:
    """A cell's row: its result, and beside it the cell's runtime and repeat, the clip source, commit and host."""
    return {**result.to_dict(), "runtime": cell["runtime"], "repeat": cell["repeat"], "clip_source": grid.clip_source,
            "git_commit": system.git_commit(), HOST: host}


def load_shared(grid: Grid, cells: Sequence[Row]) -> _Loaded:
    """What the cells will share, with the clip source read: one that cannot be read stops the sweep here."""
    shared = _Loaded(grid)
    if cells:
        shared.clips(cells[0]["bucket"])
    return shared


def run_cells(shared: _Loaded, cells: Iterable[Row], cell_runner: CellRunner = run_cell) -> Iterator[Row]:
    """Each cell's row, in order, carrying its cell's ROW_KEYS; the first repeat of each cell warms up and counts
    FLOPs."""
    warmed: set[tuple] = set()
    for cell in cells:
        cell_key = row_key(cell)[:-1]
        yield {**cell_runner(shared, cell, cell_key not in warmed), **{k: cell[k] for k in ROW_KEYS}}
        warmed.add(cell_key)


def run_here(grid: Grid, cells: list[Row], cell_runner: CellRunner = run_cell) -> Iterator[Row]:
    """run_sweep's default execute: the cells one after another, in this process."""
    yield from run_cells(load_shared(grid, cells), cells, cell_runner)


def _carry_flops(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeats after the first skip FLOP counting: FLOPs depend on shapes, which repeats share."""
    if row.get("status") != "ok" or row["repeat"] == 0:
        return row
    cell = row_key(row)[:-1]
    src = next((r for r in rows if r.get("status") == "ok" and row_key(r)[:-1] == cell
                and not pd.isna(r.get("encoder_flops_per_clip"))), None)
    if src is not None:
        row["encoder_flops_per_clip"] = float(src["encoder_flops_per_clip"])
        row["decoder_flops_per_token"] = float(src["decoder_flops_per_token"])
        row["total_flops"] = (row["encoder_flops_per_clip"] * row["n_clips"]
                              + row["decoder_flops_per_token"] * row["decoder_steps"])
    return row


def run_sweep(grid: Grid, out: str | Path, progress: bool = True, cell_runner: CellRunner = run_cell,
              command: str = "", execute: Execute = run_here) -> pd.DataFrame:
    """Run every cell not yet in out, holding out's lock throughout; returns the full table.

    execute runs the cells and yields their rows in any order (run_here: in this process); each row is
    written as it arrives. The table's ``attrs[NEW_ROWS]`` says how many of its rows (the last ones) this
    run added (all_failed).
    """
    out = Path(out)
    with writing(out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(out):
        return _run_locked(grid, out, progress, cell_runner, command, execute)


def _done_rows(out: Path) -> pd.DataFrame:
    """The rows already in out (a file that is not a sweep table stops the sweep, untouched)."""
    for path in (out, provenance_path(out)):
        remove_stale_temps(path)  # left by a killed sweep; no other writer runs while we hold the lock
    try:
        done = read_rows(out)
    except SweepFileError as exc:
        raise SweepError(str(exc)) from None
    if missing := [k for k in ROW_KEYS if k not in done.columns]:
        raise SweepError(f"{out} is not a sweep table (no {', '.join(missing)} column): {MOVE_AWAY}.")
    return done


def _run_locked(grid: Grid, out: Path, progress: bool, cell_runner: CellRunner, command: str,
                execute: Execute) -> pd.DataFrame:
    done = _done_rows(out)
    rows = done.to_dict("records")
    finished = {row_key(r) for r in rows}
    todo = [c for c in grid.cells() if row_key(c) not in finished]
    write_provenance(grid, out, command)
    if progress and (skipped := grid.skipped()):
        print("left out, can never run: " + "; ".join(skipped))
    hosts: set[str] = set()
    for row in _progress(execute(grid, todo, cell_runner), progress, len(todo)):
        rows.append(_carry_flops(row, rows))
        with writing(out):
            write_atomic(pd.DataFrame(rows), out)
        if (host := row.get(HOST)) and host not in hosts:
            hosts.add(host)
            record_hosts(out, hosts)
    table = pd.DataFrame(rows) if rows else done
    table.attrs[NEW_ROWS] = len(todo)
    if progress and not table.empty:
        print(summary(table).to_string())
    return table


def _progress(items: Iterable, enabled: bool, total: int) -> Iterable:
    if not enabled:
        return items
    from tqdm import tqdm
    return tqdm(items, desc="sweep", unit="run", total=total)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """The headline figures per cell (sweep_table.aggregate: medians over repeats), for the end of a sweep."""
    cols = ["latency_per_utt_s", "rtf", "energy_per_audio_s_j", "wer"]
    table = aggregate(df).set_index(CELL_KEYS)[cols]
    failed = df[df["status"] != "ok"]
    if not failed.empty:
        print(f"{len(failed)} run(s) failed: " + "; ".join(sorted(set(failed["error"].astype(str)))[:5]))
    return table


def all_failed(table: pd.DataFrame) -> str | None:
    """One sentence if this run added rows and every one failed (run_sweep's table), else None."""
    new = table.iloc[len(table) - table.attrs.get(NEW_ROWS, 0):]
    if new.empty or (new["status"] == STATUS_OK).any():
        return None
    errors = list(dict.fromkeys(new["error"].astype(str)))[:FIRST_ERRORS]
    return (f"All {len(new)} run(s) of this sweep failed ({'; '.join(errors)}): fix that, then run again with "
            f"another --out, since a resume skips the runs already recorded.")
