"""Resumable sweeps: models x devices x precisions x weights x buckets x batch sizes, R repeats.

One tidy row per (cell, repeat), written atomically after each row: the whole table goes to a
temporary file that then replaces the sweep file, so a sweep killed at any moment (even SIGKILL)
leaves a readable file without duplicates, and running the same command again skips what is done.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from . import system
from .results import RESULT_FIELDS, failed_result

KEY = ("model", "runtime", "device", "precision", "weights", "bucket", "batch_size", "repeat")
DEFAULT_CACHE_DIR = ".clip_cache"
DEFAULT_OUT = "sweep.parquet"


@dataclass(frozen=True)
class Grid:
    models: tuple[str, ...] = ("openai/whisper-tiny",)
    devices: tuple[str, ...] = ("cpu",)
    precisions: tuple[str, ...] = ("fp32",)
    weights: tuple[str, ...] = ("pretrained",)
    runtimes: tuple[str, ...] = ("transformers",)
    buckets: tuple[str, ...] = ("5s", "15s", "30s", "60s")
    batch_sizes: tuple[int, ...] = (1, 4, 8, 16, 32)
    clips_per_cell: int = 8
    repeats: int = 3
    clip_source: str = "tedlium"
    cache_dir: str = DEFAULT_CACHE_DIR
    seed: int = 42
    tokenizer: str = ""  # synthetic Whisper: count reference tokens with this tokenizer (path or hub id)
    # TED-LIUM source options (None: the defaults documented in asr_core/tedlium.py)
    dataset_id: str | None = None
    dataset_revision: str | None = None
    dataset_config: str | None = None
    dataset_split: str | None = None
    dataset_files: str | None = None  # comma-separated parquet files or globs

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
            for bucket, batch_size, repeat in itertools.product(self.buckets, self.batch_sizes, range(self.repeats)):
                out.append(dict(model=model, runtime=runtime, device=device, precision=precision, weights=weights,
                                bucket=bucket, batch_size=batch_size, repeat=repeat))
        return out

    def skipped(self) -> list[str]:
        """The grid's model/precision/runtime combinations that can never run, each with the reason."""
        return [f"{model} {precision} {runtime}: {why}"
                for model, precision, runtime in itertools.product(self.models, self.precisions, self.runtimes)
                if (why := _never(model, precision, runtime))]


def _never(model: str, precision: str, runtime: str) -> str | None:
    from .models import ModelError, combination_problem, family_of
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
    data = tomllib.loads(Path(path).read_text())
    data = data.get("sweep", data)
    fields = {f.name: f for f in dataclasses.fields(Grid)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"Unknown keys in {path}: {', '.join(sorted(unknown))}; allowed: {', '.join(fields)}.")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return Grid(**kwargs)


def _key(row: dict[str, Any]) -> tuple:
    return tuple(row[k] for k in KEY)


def read_rows(path: str | Path) -> pd.DataFrame:
    """A sweep file (parquet or CSV) as a DataFrame; an empty frame if it does not exist."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(RESULT_FIELDS) + ["repeat"])
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def write_atomic(df: pd.DataFrame, path: str | Path) -> None:
    """Write the whole table to a temporary file, fsync it, then rename it over the target."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if path.suffix == ".csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_provenance(grid: Grid, out: Path, command: str) -> Path:
    """Record hardware, versions, date, commit and grid; earlier invocations into the same file are kept."""
    path = out.with_suffix(".provenance.json")
    runs = json.loads(path.read_text()).get("runs", []) if path.exists() else []
    runs.append({"hardware": system.hardware_summary(), "versions": system.versions(),
                 "git_commit": system.git_commit(), "date": system.now_iso(), "command": command,
                 "grid": dataclasses.asdict(grid)})
    path.write_text(json.dumps({"runs": runs}, indent=2))
    return path


class _Cell:
    """The clips of one bucket and the loaded model, shared by the cells that need them."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self._clips: dict[str, Any] = {}
        self._model_key: tuple | None = None
        self._model: Any = None
        self.token_counter = _token_counter(grid.tokenizer) if grid.tokenizer else None

    def clips(self, bucket: str) -> tuple[list, list[str]]:
        if bucket not in self._clips:
            from .audio import load_audio
            from .clips import build_clip_cache
            if not self._clips:
                self._all = build_clip_cache(self.grid.clip_source, self.grid.cache_dir,
                                             per_bucket=self.grid.clips_per_cell, seed=self.grid.seed,
                                             **self.grid.dataset_kwargs())
            chosen = [c for c in self._all if c.bucket == bucket][: self.grid.clips_per_cell]
            self._clips[bucket] = ([load_audio(c.path, None) for c in chosen], [c.reference for c in chosen])
        return self._clips[bucket]

    def model(self, cell: dict[str, Any]) -> Any:
        from .models import load_model
        key = (cell["model"], cell["device"], cell["precision"], cell["weights"], cell["runtime"])
        if key != self._model_key:
            self._model, self._model_key = None, None
            gc.collect()
            _empty_cuda_cache()
            self._model_key = key
            self._model = load_model(*key)
        return self._model


def _token_counter(tokenizer: str) -> Callable[[str], int]:
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tokenizer)
    return lambda text: len(tok(text, add_special_tokens=False).input_ids)


def _empty_cuda_cache() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_cell(shared: _Cell, cell: dict[str, Any], first: bool) -> dict[str, Any]:
    """One (cell, repeat) as a row; failures become rows with status and error."""
    from .runners import RunOptions, ResourceError, transcribe
    try:
        clips, refs = shared.clips(cell["bucket"])
        if not clips:
            raise ValueError(f"no clips in bucket {cell['bucket']} from {shared.grid.clip_source}")
        n = max(len(clips), cell["batch_size"])  # fill a batch larger than the clip set by repeating clips
        clips, refs = [clips[i % len(clips)] for i in range(n)], [refs[i % len(refs)] for i in range(n)]
        lm = shared.model(cell)
        opts = RunOptions(batch_size=cell["batch_size"], warmup=first, count_flops=first, bucket=cell["bucket"],
                          token_counter=shared.token_counter)
        result = transcribe(lm, clips, refs, opts)
        row = result.to_dict()
    except Exception as exc:  # noqa: BLE001 - a failed cell is recorded and the sweep goes on
        from .models import family_of
        status = "oom" if isinstance(exc, ResourceError) else "error"
        try:
            family = family_of(cell["model"])
        except ValueError:
            family = ""
        row = failed_result(cell["model"], family, cell["weights"], cell["device"], cell["precision"],
                            f"{type(exc).__name__}: {exc}", status=status, batch_size=cell["batch_size"],
                            bucket=cell["bucket"]).to_dict()
    row.update(runtime=cell["runtime"], repeat=cell["repeat"], clip_source=shared.grid.clip_source,
               git_commit=system.git_commit())
    return row


def _carry_flops(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeats after the first skip FLOP counting: FLOPs depend on shapes, which repeats share."""
    if row.get("status") != "ok" or row["repeat"] == 0:
        return row
    cell = _key(row)[:-1]
    src = next((r for r in rows if r.get("status") == "ok" and _key(r)[:-1] == cell
                and not pd.isna(r.get("encoder_flops_per_clip"))), None)
    if src is not None:
        row["encoder_flops_per_clip"] = float(src["encoder_flops_per_clip"])
        row["decoder_flops_per_token"] = float(src["decoder_flops_per_token"])
        row["total_flops"] = (row["encoder_flops_per_clip"] * row["n_clips"]
                              + row["decoder_flops_per_token"] * row["decoder_tokens"])
    return row


def run_sweep(grid: Grid, out: str | Path, progress: bool = True,
              cell_runner: Callable[[Any, dict[str, Any], bool], dict[str, Any]] = run_cell,
              command: str = "") -> pd.DataFrame:
    """Run every cell not yet in out; returns the full table."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = read_rows(out)
    finished = {_key(r) for r in done.to_dict("records")} if not done.empty else set()
    todo = [c for c in grid.cells() if _key(c) not in finished]
    write_provenance(grid, out, command)
    if progress and (skipped := grid.skipped()):
        print("left out, can never run: " + "; ".join(skipped))
    shared = _Cell(grid)
    if todo:
        shared.clips(todo[0]["bucket"])  # a clip source that cannot be read stops the sweep with its message
    rows = done.to_dict("records") if not done.empty else []
    warmed: set[tuple] = set()
    for cell in _progress(todo, progress):
        cell_key = _key(cell)[:-1]
        row = cell_runner(shared, cell, cell_key not in warmed)
        warmed.add(cell_key)
        rows.append(_carry_flops(row, rows))
        write_atomic(pd.DataFrame(rows), out)
    table = pd.DataFrame(rows) if rows else done
    if progress and not table.empty:
        print(summary(table).to_string())
    return table


def _progress(items: list, enabled: bool) -> Iterable:
    if not enabled:
        return items
    from tqdm import tqdm
    return tqdm(items, desc="sweep", unit="run")


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Median per cell of the headline figures, for the end of a sweep."""
    ok = df[df["status"] == "ok"]
    cols = ["latency_per_utt_s", "rtf", "energy_per_audio_s_j", "wer"]
    by = ["model", "runtime", "device", "precision", "weights", "bucket", "batch_size"]
    table = ok.groupby(by, dropna=False)[cols].median(numeric_only=True) if not ok.empty else pd.DataFrame()
    failed = df[df["status"] != "ok"]
    if not failed.empty:
        print(f"{len(failed)} run(s) failed: " + "; ".join(sorted(set(failed["error"].astype(str)))[:5]))
    return table


# --- CLI ------------------------------------------------------------------------------------------


def _csv(kind: type = str) -> Callable[[str], tuple]:
    return lambda s: tuple(kind(x) for x in s.split(",") if x)


def add_cli(sub: Any, add_run_args: Callable[[argparse.ArgumentParser], None]) -> None:
    s = sub.add_parser("sweep", help="run a resumable grid of measurements into a parquet file")
    s.add_argument("--config", type=Path, help="TOML file with the grid (keys as the flags, lists for axes)")
    s.add_argument("--models", type=_csv())
    s.add_argument("--devices", type=_csv())
    s.add_argument("--precisions", type=_csv())
    s.add_argument("--weights-kinds", dest="weights", type=_csv())
    s.add_argument("--runtimes", type=_csv(), help="comma-separated: transformers, transformers-compiled, ctranslate2")
    s.add_argument("--buckets", type=_csv())
    s.add_argument("--batch-sizes", type=_csv(int))
    s.add_argument("--clips-per-cell", type=int)
    s.add_argument("--repeats", type=int)
    s.add_argument("--clips", dest="clip_source", help="'tedlium' (default) or a local folder of audio + transcripts")
    s.add_argument("--cache-dir", help=f"clip cache folder (default {DEFAULT_CACHE_DIR})")
    s.add_argument("--tokenizer", help="synthetic Whisper: count reference tokens with this tokenizer")
    _add_dataset_args(s)
    s.add_argument("--out", type=Path, default=Path(DEFAULT_OUT))
    s.add_argument("--csv", type=Path, help="also export the table as CSV")
    s.set_defaults(func=cmd_sweep)

    p = sub.add_parser("prefetch", help="download models and build the clip cache ahead of a class")
    p.add_argument("--models", type=_csv(), default=None, help="comma-separated (default: the whole registry)")
    p.add_argument("--clips", dest="clip_source", default="tedlium")
    p.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR)
    p.add_argument("--clips-per-bucket", type=int, default=8)
    _add_dataset_args(p)
    p.set_defaults(func=cmd_prefetch)


def _add_dataset_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("TED-LIUM source (default: LIUM/tedlium, refs/convert/parquet, release3, validation)")
    g.add_argument("--dataset-id", help="hub dataset id, or 'parquet' with --dataset-files")
    g.add_argument("--dataset-revision")
    g.add_argument("--dataset-config")
    g.add_argument("--dataset-split")
    g.add_argument("--dataset-files", help="comma-separated parquet files or globs (e.g. an ESB copy of the dev set)")


_GRID_FLAGS = ("models", "devices", "precisions", "weights", "runtimes", "buckets", "batch_sizes", "clips_per_cell", "repeats",
               "clip_source", "cache_dir", "tokenizer", "dataset_id", "dataset_revision", "dataset_config",
               "dataset_split", "dataset_files")


def cmd_sweep(args: argparse.Namespace) -> int:
    import sys
    overrides = {k: getattr(args, k) for k in _GRID_FLAGS}
    grid = grid_from_toml(args.config, **overrides) if args.config else Grid(
        **{k: v for k, v in overrides.items() if v is not None})
    table = run_sweep(grid, args.out, command=" ".join(["asr-profile", *sys.argv[1:]]))
    if args.csv:
        write_atomic(table, args.csv)
    print(f"{len(table)} rows in {args.out}")
    return 0


def cmd_prefetch(args: argparse.Namespace) -> int:
    from .clips import build_clip_cache
    from .models import REGISTRY, load_model
    for model_id in args.models or tuple(REGISTRY):
        print(f"fetching {model_id} ...")
        load_model(model_id, "cpu", "fp32", "pretrained")
    clips = build_clip_cache(args.clip_source, args.cache_dir, per_bucket=args.clips_per_bucket, seed=42,
                             **dataset_kwargs(args.dataset_id, args.dataset_revision, args.dataset_config,
                                              args.dataset_split, args.dataset_files))
    print(f"{len(clips)} clips cached in {args.cache_dir}")
    return 0
