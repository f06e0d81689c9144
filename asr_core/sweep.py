"""Resumable sweeps: models x devices x precisions x weights x buckets x batch sizes, R repeats.

One tidy row per (cell, repeat), written atomically after each row: the whole table goes to a
temporary file that then replaces the sweep file, so a sweep killed at any moment (even SIGKILL)
leaves a readable file without duplicates, and running the same command again skips what is done.
"""
from __future__ import annotations

import dataclasses
import gc
import itertools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from . import system
from .audio import load_audio
from .clips import build_clip_cache, default_cache_dir
from .measure import ResourceError, RunOptions, transcribe
from .models import ModelError, combination_problem, family_of
from .results import failed_result
from .runtimes import load_model
from .sweep_table import CELL_KEYS, aggregate, read_rows, row_key, write_atomic

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
    cache_dir: str = ""  # empty: clips.default_cache_dir() ($ASR_CLIP_CACHE, else .clip_cache)
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


def write_provenance(grid: Grid, out: Path, command: str) -> Path:
    """Record hardware, versions, date, commit and grid; earlier invocations into the same file are kept."""
    path = out.with_suffix(".provenance.json")
    runs = json.loads(path.read_text()).get("runs", []) if path.exists() else []
    runs.append({"hardware": system.hardware_summary(), "versions": system.versions(),
                 "git_commit": system.git_commit(), "date": system.now_iso(), "command": command,
                 "grid": dataclasses.asdict(grid)})
    path.write_text(json.dumps({"runs": runs}, indent=2))
    return path


class _Loaded:
    """What consecutive cells share: the clips of each bucket, and the one model loaded now."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self._clips: dict[str, Any] = {}
        self._model_key: tuple | None = None
        self._model: Any = None
        self.token_counter = _token_counter(grid.tokenizer) if grid.tokenizer else None

    def clips(self, bucket: str) -> tuple[list, list[str]]:
        if bucket not in self._clips:
            if not self._clips:
                self._all = build_clip_cache(self.grid.clip_source, self.grid.cache_dir or default_cache_dir(),
                                             per_bucket=self.grid.clips_per_cell, seed=self.grid.seed,
                                             **self.grid.dataset_kwargs())
            chosen = [c for c in self._all if c.bucket == bucket][: self.grid.clips_per_cell]
            self._clips[bucket] = ([load_audio(c.path, None) for c in chosen], [c.reference for c in chosen])
        return self._clips[bucket]

    def model(self, cell: dict[str, Any]) -> Any:
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


def run_cell(shared: _Loaded, cell: dict[str, Any], first: bool) -> dict[str, Any]:
    """One (cell, repeat) as a row; failures become rows with status and error."""
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
    cell = row_key(row)[:-1]
    src = next((r for r in rows if r.get("status") == "ok" and row_key(r)[:-1] == cell
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
    finished = {row_key(r) for r in done.to_dict("records")} if not done.empty else set()
    todo = [c for c in grid.cells() if row_key(c) not in finished]
    write_provenance(grid, out, command)
    if progress and (skipped := grid.skipped()):
        print("left out, can never run: " + "; ".join(skipped))
    shared = _Loaded(grid)
    if todo:
        shared.clips(todo[0]["bucket"])  # a clip source that cannot be read stops the sweep with its message
    rows = done.to_dict("records") if not done.empty else []
    warmed: set[tuple] = set()
    for cell in _progress(todo, progress):
        cell_key = row_key(cell)[:-1]
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
    """The headline figures per cell (sweep_table.aggregate: medians over repeats), for the end of a sweep."""
    cols = ["latency_per_utt_s", "rtf", "energy_per_audio_s_j", "wer"]
    table = aggregate(df).set_index(CELL_KEYS)[cols]
    failed = df[df["status"] != "ok"]
    if not failed.empty:
        print(f"{len(failed)} run(s) failed: " + "; ".join(sorted(set(failed["error"].astype(str)))[:5]))
    return table
