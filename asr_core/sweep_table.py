"""The sweep table: its schema, keys, reader, validation and the one aggregation rule.

A sweep table is what ``asr-profile sweep`` writes (parquet or CSV): one row per (cell, repeat) with
``results.RESULT_FIELDS`` plus ``EXTRA_FIELDS``. A *cell* is one configuration (``CELL_KEYS``); a row is
a cell and a repeat (``ROW_KEYS``), the key the sweep resumes by.

Aggregation, everywhere (Explore, Recommend, findings, the sweep's summary): successful rows only, the
**median over repeats** of every figure, the **maximum** of peak memory (what the machine must have),
and the distinct values of labels (energy source, hardware names) joined.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .buckets import bucket_seconds
from .errors import SweepFileError
from .results import RESULT_FIELDS, STATUS_OK, Result

# snr_db and noise (asr_core.noise): files from before noise was recorded read as clean (inf, ""); see FILLED.
CELL_KEYS = ["model", "runtime", "weights", "device", "precision", "batch_size", "bucket", "snr_db", "noise"]
# clip_source: the same cell on another clip source is another measurement, not a repeat to skip on resume
ROW_KEYS = [*CELL_KEYS, "clip_source", "repeat"]
MERGE_KEYS = [*ROW_KEYS, "host"]  # a machine measures a row once; two machines may each measure it
# Device and batch size do not change what a model computes, so accuracy may be pooled over them.
WER_KEYS = ["model", "runtime", "weights", "precision", "bucket", "snr_db", "noise"]
HOST = "host"  # the machine that ran a row (sweep.run_cell); sweeps from before it was recorded have none
EXTRA_FIELDS = ("repeat", "clip_source", "git_commit", HOST)
COLUMNS = (*RESULT_FIELDS, *EXTRA_FIELDS)
SUFFIXES = (".parquet", ".csv")
SOURCE_FILE = "source_file"  # which file a row came from (added by read)
# Without these a table cannot be charted at all; other missing columns are filled with blanks.
REQUIRED = ("model", "device", "precision", "weights", "batch_size", "bucket", "status", "latency_per_utt_s")
TEXT_COLUMNS = ("model", "family", "device", "precision", "weights", "runtime", "bucket", "status", "energy_source",
                "cpu_name", "gpu_name", "clip_source", "error")
MEDIAN_COLUMNS = ["audio_s", "n_clips", "latency_s", "latency_per_utt_s", "rtf", "throughput_audio_s_per_s",
                  "throughput_utt_per_s", "preprocess_s", "encoder_s", "decoder_s", "energy_j",
                  "energy_per_utt_j", "energy_per_audio_s_j", "wer", "cer", "total_flops",
                  "encoder_flops_per_clip"]
MAX_COLUMNS = ["peak_memory_bytes"]
JOINED_COLUMNS = ["family", "energy_source", "cpu_name", "gpu_name", "clip_source"]
STAGE_COLUMNS = {"preprocess_s": "preprocess", "encoder_s": "encoder", "decoder_s": "decoder"}
CTC_DECODER = "CTC head"
FAILED_COLUMNS = ["model", "weights", "device", "precision", "batch_size", "bucket", "repeat", "status", "error"]
# A column that was renamed -> its name now: files written before the rename read as if written after it.
RENAMED = {"decoder_tokens": "decoder_steps"}  # padded decoder steps x rows, never a count of tokens


# --- reading and writing -------------------------------------------------------------------------

def read_rows(path: str | os.PathLike) -> pd.DataFrame:
    """A sweep file as written (parquet or CSV, by suffix); an empty table if it does not exist.

    A file that cannot be read raises SweepFileError naming it (a sweep must not write over it).
    """
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(COLUMNS))
    try:
        df = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow and pandas raise many kinds
        raise SweepFileError(f"{path} could not be read as a sweep table ({type(exc).__name__}): move it away "
                             f"or choose another --out.") from None
    return with_filled_keys(with_current_names(df))


def with_current_names(df: pd.DataFrame) -> pd.DataFrame:
    """The table with renamed columns under their current names (RENAMED); a file that has both keeps the new."""
    old = {a: b for a, b in RENAMED.items() if a in df.columns and b not in df.columns}
    return df.rename(columns=old).drop(columns=[a for a in RENAMED if a in df.columns and a not in old])


def with_filled_keys(df: pd.DataFrame) -> pd.DataFrame:
    """The table with the FILLED key columns it lacks added (an older sweep: clean audio, source unknown), and
    their empty text read back from CSV as "" again."""
    if not len(df.columns):
        return df
    filled = {col: df[col].astype(object).where(df[col].notna(), "") if col in df.columns else value for col, value in FILLED.items()
              if col not in df.columns or isinstance(value, str)}
    return df.assign(**filled)


def write_atomic(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the whole table to a temporary file, fsync it, then rename it over the target (replace_atomic)."""
    path = Path(path)
    if path.suffix == ".csv":
        replace_atomic(path, lambda tmp: df.to_csv(tmp, index=False))
    else:
        replace_atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


# --- reading a sweep file: bounded, because the app reads files from anyone ---------------------------

MIB = 1024**2
MAX_FILE_BYTES = 25 * MIB  # one sweep file as stored; the shipped CPU sweep is 90 KB
MAX_ROWS = 200_000  # rows in one sweep file; a large GPU grid with repeats is a few thousand
MAX_DECODED_BYTES = 256 * MIB  # the columns read, decompressed (parquet: checked from its metadata first)
MAX_TEXT_CHARS = 1_000  # a longer text cell (say a long error message) is cut to this length
SHOWN_VALUE_CHARS = 40  # how much of a bad value a message quotes
# Lists of transcripts: nothing that reads a sweep table uses them, and they are most of a file's bytes.
TRANSCRIPT_COLUMNS = ("hypotheses", "references")
READ_COLUMNS = tuple(c for c in COLUMNS if c not in TRANSCRIPT_COLUMNS)
FILE_COLUMNS = (*READ_COLUMNS, *RENAMED)  # what is read from a file: a column's old name too
NUMBER_COLUMNS = (*(f.name for f in dataclasses.fields(Result) if f.type in ("int", "float")), "repeat")
READ_TEXT_COLUMNS = tuple(c for c in READ_COLUMNS if c not in NUMBER_COLUMNS)
# Whole-number columns and their smallest valid value; every other number is a figure: finite and >= 0, or empty.
COUNT_MINIMUM = {"batch_size": 1, "repeat": 0}
COUNT_MAXIMUM = 1_000_000  # far above any batch size or repeat count; 1e300 would wrap round as an int64
SIGNED_COLUMNS = ("snr_db",)  # any number, negative and inf included (inf: clean), or empty
# Key columns a file from before they existed lacks, and what they mean there: clean audio, source unknown.
FILLED = {"snr_db": np.inf, "noise": "", "clip_source": ""}
SPLIT_ADVICE = "split the sweep into smaller files"
FIX_ADVICE = "fix that row or run the sweep again"


def read(data: bytes | str | os.PathLike, name: str | None = None, strict: bool = False) -> pd.DataFrame:
    """One sweep file (parquet or CSV, by name) as a validated table with a source_file column.

    Bounded: a file over MAX_FILE_BYTES is refused before it is parsed, a parquet file over MAX_ROWS or
    MAX_DECODED_BYTES from its metadata; only READ_COLUMNS are read, and validate() checks every value.
    name (default: the file's name) is what messages and the source_file column call it. strict: text where a
    figure belongs is refused (merging must not lose it) rather than read as empty (what a chart can live with).
    """
    name = name or ("sweep data" if isinstance(data, bytes) else Path(data).name)
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise SweepFileError(f"{name}: not a sweep file; use the .parquet or .csv that `asr-profile sweep` wrote.")
    try:
        _check_bytes(len(data) if isinstance(data, bytes) else os.path.getsize(data), name)
        df = _read_parquet(data, name) if suffix == ".parquet" else _read_csv(data)
        _check_rows(len(df), name)
        return validate(with_current_names(df), name, strict)
    except SweepFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow, pandas and the file system raise many kinds
        raise SweepFileError(f"{name}: could not be read as {suffix[1:]} ({type(exc).__name__}); "
                             f"check that it is a sweep file.") from None


def _check_bytes(size: int, name: str) -> None:
    if size > MAX_FILE_BYTES:
        raise SweepFileError(f"{name}: {size / MIB:.1f} MiB is over the {MAX_FILE_BYTES // MIB} MiB limit for a "
                             f"sweep file; {SPLIT_ADVICE}.")


def _check_rows(rows: int, name: str) -> None:
    if rows > MAX_ROWS:
        raise SweepFileError(f"{name}: more than {MAX_ROWS:,} rows, the limit for a sweep file; {SPLIT_ADVICE}.")


def _check_decoded(size: int, name: str) -> None:
    if size > MAX_DECODED_BYTES:
        raise SweepFileError(f"{name}: its columns take {size / MIB:.0f} MiB once decompressed, over the "
                             f"{MAX_DECODED_BYTES // MIB} MiB limit for a sweep file; {SPLIT_ADVICE}.")


def _read_csv(source: bytes | str | os.PathLike) -> pd.DataFrame:
    """The known columns of a CSV file, at most one row past MAX_ROWS (enough to refuse it)."""
    src = io.BytesIO(source) if isinstance(source, bytes) else source
    return pd.read_csv(src, usecols=lambda c: c in FILE_COLUMNS, nrows=MAX_ROWS + 1,
                       dtype={c: str for c in READ_TEXT_COLUMNS})


def _parquet(source: bytes | str | os.PathLike, **options) -> pq.ParquetFile:
    return pq.ParquetFile(pa.BufferReader(source) if isinstance(source, bytes) else source, **options)


def _read_parquet(source: bytes | str | os.PathLike, name: str) -> pd.DataFrame:
    """The known columns of a parquet file, refused from its metadata when too big.

    Text is read as dictionaries and cut before it is expanded: a short file can repeat one huge string
    in every row.
    """
    with _parquet(source) as f:
        meta, schema = f.metadata, f.schema_arrow
    _check_rows(meta.num_rows, name)
    present = [c for c in FILE_COLUMNS if c in schema.names]
    for col in present:
        if not _is_flat(schema.field(col).type):
            raise SweepFileError(f"{name}: column {col} holds {schema.field(col).type} values, not numbers or text; "
                                 f"check that it is a sweep file.")
    _check_decoded(_declared_bytes(meta, present), name)
    with _parquet(source, read_dictionary=present) as f:
        table = f.read(columns=present)
    return _expanded(table, name).to_pandas()


def file_columns(path: str | os.PathLike) -> list[str]:
    """The columns a sweep file holds, from its header or schema (nothing else is read)."""
    if Path(path).suffix.lower() == ".csv":
        return list(pd.read_csv(path, nrows=0).columns)
    return list(pq.read_schema(path).names)


def read_transcripts(path: str | os.PathLike, rows: int) -> pd.DataFrame:
    """The transcript columns of a sweep file that read() has accepted (rows long), bounded as read() bounds the
    others: a parquet file's lists of text are read as dictionaries and refused above MAX_DECODED_BYTES before they
    are expanded (a CSV file is bounded by its size). Empty when the file has none."""
    name = Path(path).name
    try:
        if Path(path).suffix.lower() == ".csv":
            df = pd.read_csv(path, usecols=lambda c: c in TRANSCRIPT_COLUMNS, nrows=rows, dtype=str)
        else:
            df = _read_parquet_transcripts(path, name)
    except SweepFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow, pandas and the file system raise many kinds
        raise SweepFileError(f"{name}: its transcripts could not be read ({type(exc).__name__}); check that it is "
                             f"a sweep file.") from None
    if len(df) != rows and len(df.columns):
        raise SweepFileError(f"{name}: its transcripts have {len(df)} rows, not {rows}; check that it is a sweep file.")
    return df


def _read_parquet_transcripts(path: str | os.PathLike, name: str) -> pd.DataFrame:
    with _parquet(path) as f:
        schema = f.schema_arrow
    present = [c for c in TRANSCRIPT_COLUMNS if c in schema.names]
    lists = [c for c in present if pa.types.is_list(schema.field(c).type)]
    with _parquet(path, read_dictionary=[f"{c}.list.element" for c in lists] + [c for c in present if c not in lists]) as f:
        table = f.read(columns=present)
    values = [chunk.values if pa.types.is_list(chunk.type) else chunk for col in present for chunk in table[col].chunks]
    _check_decoded(sum(_decoded_bytes(v) for v in values), name)
    return pa.table({col: pa.chunked_array([_dense(c) for c in table[col].chunks]) for col in present}).to_pandas()


def _dense(chunk: pa.Array) -> pa.Array:
    """A chunk with its dictionary (of the list's values, or of the chunk itself) expanded."""
    if pa.types.is_list(chunk.type) and pa.types.is_dictionary(chunk.values.type):
        values = chunk.values.dictionary.take(chunk.values.indices)
        return pa.ListArray.from_arrays(chunk.offsets, values, mask=chunk.is_null())
    return chunk.dictionary.take(chunk.indices) if pa.types.is_dictionary(chunk.type) else chunk


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_flat(t: pa.DataType) -> bool:
    """One number or text per cell (lists, structs and maps are not)."""
    t = t.value_type if pa.types.is_dictionary(t) else t
    return (_is_text(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_null(t) or pa.types.is_timestamp(t))


def _declared_bytes(meta: pq.FileMetaData, columns: Sequence[str]) -> int:
    """What the file says these columns take decompressed (dictionary pages included)."""
    wanted = set(columns)
    groups = (meta.row_group(i) for i in range(meta.num_row_groups))
    return sum(g.column(j).total_uncompressed_size for g in groups for j in range(g.num_columns)
               if g.column(j).path_in_schema in wanted)


def _cut(chunk: pa.Array) -> pa.Array:
    """Text cut to MAX_TEXT_CHARS; a dictionary keeps its indices and has its values cut."""
    if pa.types.is_dictionary(chunk.type):
        return pa.DictionaryArray.from_arrays(chunk.indices, _cut(chunk.dictionary))
    return pc.utf8_slice_codeunits(chunk, 0, MAX_TEXT_CHARS) if _is_text(chunk.type) else chunk


def _decoded_bytes(chunk: pa.Array) -> int:
    """What a chunk takes once its dictionary is expanded, computed without expanding it."""
    if not pa.types.is_dictionary(chunk.type):
        return chunk.nbytes
    if not _is_text(chunk.dictionary.type):
        return 8 * len(chunk)
    return (pc.sum(pc.binary_length(chunk.dictionary).take(chunk.indices)).as_py() or 0) + 8 * len(chunk)


def _expanded(table: pa.Table, name: str) -> pa.Table:
    """The table with text cut and dictionaries expanded, refused first if that passes MAX_DECODED_BYTES."""
    cut = {col: [_cut(chunk) for chunk in table[col].chunks] for col in table.column_names}
    _check_decoded(sum(_decoded_bytes(chunk) for chunks in cut.values() for chunk in chunks), name)
    columns = {}
    for field in table.schema:
        dense = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        columns[field.name] = pa.chunked_array(
            [c.dictionary.take(c.indices) if pa.types.is_dictionary(c.type) else c for c in cut[field.name]], dense)
    return pa.table(columns)


def validate(df: pd.DataFrame, name: str, strict: bool = False) -> pd.DataFrame:
    """Check the columns and every value, fill optional columns, cut text, and tag rows with their file name.

    Whole numbers (batch_size >= 1, repeat >= 0, at most COUNT_MAXIMUM) must be there; every other figure is
    finite and >= 0 or empty (NaN: not measured; text too, unless strict). A file that breaks either rule is
    refused, naming the column and first row.
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SweepFileError(f"{name}: missing column(s) {', '.join(missing)}; a sweep file has the columns "
                             f"of results.RESULT_FIELDS plus {', '.join(EXTRA_FIELDS)}.")
    df = df.copy()
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = _blank(col)
    for col in READ_TEXT_COLUMNS:
        df[col] = df[col].astype("string").fillna("").str.slice(0, MAX_TEXT_CHARS).astype(str)
    for col in NUMBER_COLUMNS:
        df[col] = _checked_numbers(df[col], col, name, strict)
    df[SOURCE_FILE] = name
    return df


def _checked_numbers(values: pd.Series, col: str, name: str, strict: bool = False) -> pd.Series:
    """The column as numbers, or SweepFileError naming the first value that breaks the column's rule."""
    numbers = pd.to_numeric(values, errors="coerce")
    x = numbers.astype("float64")
    text = values.notna() & x.isna()  # a value that is not a number ("fast"), not an empty cell
    if col in SIGNED_COLUMNS:
        _refuse_first(x.isin([-np.inf]) | text, values, name, f"{col} must be a number, inf or empty")
        return numbers
    if col in COUNT_MINIMUM:
        low = COUNT_MINIMUM[col]
        _refuse_first(~(np.isfinite(x) & (x >= low) & (x == np.floor(x))), values, name,
                      f"{col} must be a whole number ≥ {low}")
        most = f"{col} must be at most {COUNT_MAXIMUM:,}"
        _refuse_first(x > COUNT_MAXIMUM, values, name, most)
        counts = numbers.astype("int64")
        _refuse_first(counts.astype("float64") != x, values, name, most)  # checked again after the conversion
        return counts
    _refuse_first((text & strict) | (x.notna() & ~(np.isfinite(x) & (x >= 0))), values, name,
                  f"{col} must be a finite number ≥ 0 or empty")
    return numbers


def _refuse_first(bad: pd.Series, values: pd.Series, name: str, rule: str) -> None:
    rows = np.flatnonzero(bad.to_numpy(dtype=bool))
    if len(rows):
        shown = str(values.iloc[rows[0]])[:SHOWN_VALUE_CHARS]
        raise SweepFileError(f"{name}: {rule}, but row {rows[0] + 1} has {shown}; {FIX_ADVICE}.")


def _blank(col: str) -> object:
    if col in FILLED:
        return FILLED[col]
    if col == "runtime":
        return "transformers"
    if col == "repeat":
        return 0
    return "" if col in ("clip_source", "git_commit", "error", "notes", "family") else np.nan


def sweep_files(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.parquet") if p.is_file()) if folder.is_dir() else []


def load_folder(folder: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """Every sweep file in folder, concatenated; plus one message per file that could not be read."""
    frames, errors = [], []
    for path in sweep_files(folder):
        try:
            frames.append(read(path, path.name))
        except SweepFileError as exc:
            errors.append(str(exc))
    return combine(frames), errors


def combine(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=[*COLUMNS, SOURCE_FILE])
    return pd.concat(frames, ignore_index=True)


# --- rows ------------------------------------------------------------------------------------------

def row_key(row: dict) -> tuple:
    """The identity of one row: its cell and repeat."""
    return tuple(row[k] for k in ROW_KEYS)


def split_status(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(status ok rows, failed rows with the columns that explain them)."""
    ok = df["status"] == STATUS_OK
    failed = df.loc[~ok, [c for c in FAILED_COLUMNS if c in df.columns]]
    return df[ok], failed.reset_index(drop=True)


def peak_memory_bytes(device, gpu_reserved, rss):
    """The memory figure that matters: GPU memory reserved on CUDA, process resident memory on CPU.

    Works on scalars and, element by element, on arrays or Series.
    """
    on_gpu = np.char.startswith(np.asarray(device, dtype=str), "cuda")
    out = np.where(on_gpu, gpu_reserved, rss)
    return out.item() if out.ndim == 0 else out


# --- the aggregation rule ----------------------------------------------------------------------------

def _join_unique(values: pd.Series) -> str:
    return ", ".join(sorted({str(v) for v in values.dropna() if str(v)}))


def aggregate(df: pd.DataFrame, keys: Sequence[str] = CELL_KEYS) -> pd.DataFrame:
    """One row per group of keys over the successful rows: medians, max peak memory, joined labels.

    Adds n_runs (rows pooled), flops_per_utt, clip_s (seconds per clip) and bucket_s (the bucket's length).
    """
    keys = list(keys)
    ok = df[df["status"] == STATUS_OK] if "status" in df.columns else df
    if ok.empty:
        return pd.DataFrame(columns=[*keys, "n_runs", *MEDIAN_COLUMNS, *MAX_COLUMNS,
                                     *[c for c in JOINED_COLUMNS if c not in keys],
                                     "flops_per_utt", "clip_s", "bucket_s"])
    ok = ok.assign(peak_memory_bytes=peak_memory_bytes(ok["device"], ok["peak_gpu_reserved_bytes"],
                                                       ok["peak_rss_bytes"]))
    numeric = ok[MEDIAN_COLUMNS + MAX_COLUMNS].apply(pd.to_numeric, errors="coerce")
    ok = ok.assign(**{c: numeric[c] for c in numeric.columns})
    aggs = {"n_runs": ("model", "size"), **{c: (c, "median") for c in MEDIAN_COLUMNS},
            **{c: (c, "max") for c in MAX_COLUMNS},
            **{c: (c, _join_unique) for c in JOINED_COLUMNS if c not in keys and c in ok.columns}}
    out = ok.groupby(keys, dropna=False, sort=True).agg(**aggs).reset_index()
    n = out["n_clips"].where(out["n_clips"] > 0)
    out["flops_per_utt"] = out["total_flops"] / n
    out["clip_s"] = out["audio_s"] / n
    if "bucket" in out.columns:
        out["bucket_s"] = out["bucket"].map(bucket_seconds)
    return out


def stage_seconds(df: pd.DataFrame, label: str, per_utterance: bool = True) -> pd.DataFrame:
    """Long table (label, stage, seconds) for stacked stage bars; CTC models' decoder is the 'CTC head'."""
    n = df["n_clips"].where(df["n_clips"] > 0, 1) if per_utterance else 1
    wide = df.assign(**{stage: pd.to_numeric(df[col], errors="coerce") / n for col, stage in STAGE_COLUMNS.items()})
    family = wide["family"] if "family" in wide.columns else ""
    long = wide.assign(label=wide[label], family=family).melt(
        id_vars=["label", "family"], value_vars=list(STAGE_COLUMNS.values()), var_name="stage", value_name="seconds")
    long.loc[(long["stage"] == "decoder") & long["family"].astype(str).str.contains("ctc"), "stage"] = CTC_DECODER
    return long[["label", "stage", "seconds"]]


# --- atomic replacement ------------------------------------------------------------------------------

def temp_path(path: str | os.PathLike, tag: str | None = None) -> Path:
    """The hidden temporary file beside path that a write goes to first (tag: this process's id)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{os.getpid() if tag is None else tag}")


def replace_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call write(tmp) on temp_path(path), fsync it, then rename it over path.

    If anything fails (a full disk, a read-only folder) the temporary file is removed and path is left
    exactly as it was; the error is raised again.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def remove_stale_temps(path: str | os.PathLike) -> None:
    """Remove the temporary files that killed writers left beside path; only while holding path's lock."""
    prefix = temp_path(path, "").name
    for stale in [p for p in Path(path).parent.iterdir() if p.name.startswith(prefix)]:
        with contextlib.suppress(OSError):
            stale.unlink()


# --- merging sweeps from several machines --------------------------------------------------------------

KIND_WORDS = {"number": "numbers", "text": "text", "other": "lists or other values"}
MERGE_ADVICE = "merge only files that `asr-profile sweep` wrote"


def merge_rows(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Sweep tables from several machines (name -> rows as read_rows gives them) as one table.

    Refused with SweepFileError naming the files: a table without the ROW_KEYS columns, a column holding
    numbers in one table and text in another, and a row key that one host recorded twice (rows without a
    host count as one unknown host). The same row key from different hosts is kept.
    """
    tables = {name: with_filled_keys(df) for name, df in tables.items()}
    for name, df in tables.items():
        if missing := [k for k in ROW_KEYS if k not in df.columns]:
            raise SweepFileError(f"{name} is not a sweep table (no {', '.join(missing)} column): {MERGE_ADVICE}.")
    _check_kinds(tables)
    _refuse_duplicates(tables)
    frames = [df.assign(**{HOST: _host_column(df)}) for df in tables.values() if not df.empty]
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))  # COLUMNS ends with HOST
    return _transcripts_of_one_kind(pd.concat(frames, ignore_index=True))


def _kind(values: pd.Series) -> str | None:
    """'number', 'text' or 'other'; None for a column with no values, which fits any kind."""
    present = values.dropna()
    if present.empty:
        return None
    if pd.api.types.is_numeric_dtype(present):
        return "number"
    return "text" if all(isinstance(v, str) for v in present) else "other"


def _check_kinds(tables: dict[str, pd.DataFrame]) -> None:
    first: dict[str, tuple[str, str]] = {}  # column -> (its kind, the first table that has values in it)
    for name, df in tables.items():
        for col in df.columns:
            if col in TRANSCRIPT_COLUMNS or (kind := _kind(df[col])) is None:
                continue
            seen, where = first.setdefault(col, (kind, name))
            if seen != kind:
                raise SweepFileError(f"Column {col} holds {KIND_WORDS[kind]} in {name} but {KIND_WORDS[seen]} in "
                                     f"{where}: {MERGE_ADVICE}.")


def _transcripts_of_one_kind(df: pd.DataFrame) -> pd.DataFrame:
    """Transcript lists (from parquet) beside their text (from CSV) all become text, so one file can hold them."""
    for col in (c for c in TRANSCRIPT_COLUMNS if c in df.columns):
        if _kind(df[col]) == "other" and df[col].map(lambda v: isinstance(v, str)).any():
            df[col] = df[col].map(lambda v: v if isinstance(v, (str, float)) or v is None else str([str(x) for x in v]))
    return df


def _host_column(df: pd.DataFrame) -> pd.Series:
    return df[HOST].fillna("").astype(str) if HOST in df.columns else pd.Series("", index=df.index)


def _identity(df: pd.DataFrame) -> pd.DataFrame:
    """MERGE_KEYS as text, whole numbers written one way (1 and 1.0 are one batch size)."""
    out = {k: (pd.to_numeric(df[k], errors="coerce").map("{:g}".format) if k in COUNT_MINIMUM
               else df[k].astype(str)) for k in ROW_KEYS}
    return pd.DataFrame({**out, HOST: _host_column(df)}, index=df.index)


_SHOWN_IF_NOISY = ("snr_db", "noise", "clip_source")  # a duplicate's message names these only for noisy rows


def _refuse_duplicates(tables: dict[str, pd.DataFrame]) -> None:
    ids = pd.concat([_identity(df).assign(file=name) for name, df in tables.items()], ignore_index=True)
    twice = ids[ids.duplicated(MERGE_KEYS, keep=False)]
    if twice.empty:
        return
    first = twice.iloc[0]
    files = list(dict.fromkeys(twice.loc[(twice[MERGE_KEYS] == first[MERGE_KEYS]).all(axis=1), "file"]))
    key = ", ".join(f"{k}={first[k]}" for k in ROW_KEYS if k not in _SHOWN_IF_NOISY or first["noise"])
    where = f"twice in {files[0]}" if len(files) == 1 else f"in {', '.join(files[:-1])} and {files[-1]}"
    host = f"host {first[HOST]}" if first[HOST] else "no recorded host"
    raise SweepFileError(f"Row {key} from {host} is {where}: one machine measured it twice, so keep it in one "
                         f"file only and merge again.")
