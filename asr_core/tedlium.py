"""TED-LIUM segments through `datasets`: the one module of the clip pipeline that reaches the hub.

The hub's ``LIUM/tedlium`` is a loading-script dataset, which datasets>=4 refuses to run; its parquet
conversion (revision ``refs/convert/parquet``, one folder per config: ``release3/validation/*.parquet``)
loads. Any other parquet copy with the LIUM columns (audio, text, speaker_id, file, id) works too,
e.g. ``dataset_id="parquet", data_files=[<local files>]``.
"""
from __future__ import annotations

import importlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .audio import SAMPLE_RATE
from .errors import ClipSourceError
from .segments import Segment

DATASET_ID = "LIUM/tedlium"
PARQUET_REVISION = "refs/convert/parquet"
CONFIG = "release3"
SPLIT = "validation"
EXPORT_FILES = "{config}/{split}/*.parquet"  # layout of the hub's parquet conversion
AUDIO = "audio"
IGNORE_TEXT = "ignore_time_segment_in_scoring"
START_KEYS = ("start_s", "start", "start_time", "begin_time")
END_KEYS = ("end_s", "end", "end_time", "stop_time")
# LIUM ids are "<speaker>-<start>-<end>-<label>" in seconds ("AlGore_2009-17.03-20.69-<o,f0,male>");
# Kaldi-style ids carry zero-padded times in 1/100 s ("AlGore_2009-0001703-0002069").
ID_TIMES = re.compile(r"^(?P<talk>.+?)-(?P<start>\d+(?:\.\d+)?)-(?P<end>\d+(?:\.\d+)?)(?:-<[^>]*>)?$")
CENTISECOND_WIDTH = 5
HTTP_LIBRARIES = ("httpx", "httpx2")  # whichever huggingface_hub uses; their errors are not OSErrors


@dataclass(frozen=True)
class _Row:
    talk: str
    key: str  # the row id: the order of a talk's rows when their times are unknown
    start_s: float | None
    end_s: float | None
    text: str
    ignored: bool
    audio: Any  # the row's audio value: {"bytes", "path"} or {"array", "sampling_rate"}


def tedlium_segments(dataset_id: str = DATASET_ID, revision: str | None = PARQUET_REVISION,
                     config: str | None = CONFIG, split: str = SPLIT,
                     data_files: str | list[str] | Mapping[str, Any] | None = None,
                     streaming: bool = True) -> dict[str, list[Segment]]:
    """Segments by talk, in talk order; ignore_time_segment_in_scoring rows come back ignored.

    Times come from explicit start/end columns, else from the row id, else (sorted by id) from
    accumulated audio durations. Audio stays encoded until a clip needs it.
    """
    records = _read_rows(dataset_id, revision, config, split, data_files, streaming)
    if not records:
        raise ClipSourceError(f"{_describe(dataset_id, revision, config, split, data_files)} has no rows; "
                              f"check the split and the data files.")
    by_talk: dict[str, list[_Row]] = {}
    for record in records:
        row = _parse_row(record)
        by_talk.setdefault(row.talk, []).append(row)
    return {talk: _talk_segments(talk, by_talk[talk]) for talk in sorted(by_talk)}


def _read_rows(dataset_id: str, revision: str | None, config: str | None, split: str,
               data_files: Any, streaming: bool) -> list[Mapping[str, Any]]:
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    what = _describe(dataset_id, revision, config, split, data_files)
    try:
        dataset = datasets.load_dataset(
            dataset_id, **_load_kwargs(dataset_id, revision, config, split, data_files, streaming))
        if isinstance((dataset.features or {}).get(AUDIO), datasets.Audio):
            dataset = dataset.cast_column(AUDIO, datasets.Audio(decode=False))  # bytes: no torchcodec
        return list(dataset)  # a stream reads the hub while iterating, so errors can come from here
    except DatasetNotFoundError:
        raise ClipSourceError(f"{what} is not on the dataset hub or is not accessible; check the dataset "
                              f"id and revision, or use a local folder.") from None
    except FileNotFoundError:
        raise ClipSourceError(f"no data files found for {what}; check the config, split and "
                              f"data_files.") from None
    except _network_errors() as exc:
        raise ClipSourceError(f"could not reach the dataset hub for {what} ({type(exc).__name__}); build "
                              f"the clip cache on a machine with network with `asr-profile prefetch`, "
                              f"or use a local folder.") from None
    except ValueError as exc:  # unknown split or config
        raise ClipSourceError(f"could not load {what}: {exc}") from None


def _load_kwargs(dataset_id: str, revision: str | None, config: str | None, split: str,
                 data_files: Any, streaming: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"split": split, "streaming": streaming}
    if data_files is None and revision == PARQUET_REVISION and config:
        data_files = EXPORT_FILES.format(config=config, split=split)
    elif data_files is None and config:
        kwargs["name"] = config
    if data_files is not None:
        kwargs["data_files"] = data_files if isinstance(data_files, Mapping) else {split: data_files}
    if revision and "/" in dataset_id and not Path(dataset_id).exists():  # a hub repository
        kwargs["revision"] = revision
    return kwargs


def _network_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]
    for name in HTTP_LIBRARIES:
        try:
            errors.append(importlib.import_module(name).HTTPError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def _describe(dataset_id: str, revision: str | None, config: str | None, split: str, data_files: Any) -> str:
    if data_files is not None:
        return f"dataset {dataset_id} (data files {data_files}, split {split})"
    return f"dataset {dataset_id} (config {config}, split {split}, revision {revision})"


def _parse_row(record: Mapping[str, Any]) -> _Row:
    text = str(record.get("text") or "")
    key = str(record.get("id") or "")
    match = ID_TIMES.match(key)
    start_s, end_s = _explicit_times(record) or (_id_times(match) if match else (None, None))
    talk = (str(record.get("speaker_id") or "") or Path(str(record.get("file") or "")).stem
            or (match["talk"] if match else "") or "talk")
    return _Row(talk, key, start_s, end_s, text, text.strip() == IGNORE_TEXT, record.get(AUDIO))


def _explicit_times(record: Mapping[str, Any]) -> tuple[float, float] | None:
    start = next((record[k] for k in START_KEYS if record.get(k) is not None), None)
    end = next((record[k] for k in END_KEYS if record.get(k) is not None), None)
    return (float(start), float(end)) if start is not None and end is not None else None


def _id_times(match: re.Match[str]) -> tuple[float, float]:
    start, end = match["start"], match["end"]
    centiseconds = "." not in start + end and max(len(start), len(end)) >= CENTISECOND_WIDTH
    scale = 0.01 if centiseconds else 1.0
    return float(start) * scale, float(end) * scale


def _talk_segments(talk: str, rows: list[_Row]) -> list[Segment]:
    if all(row.start_s is not None for row in rows):
        ordered = sorted(rows, key=lambda row: (row.start_s, row.end_s, row.key))
        spans = [(row.start_s, row.end_s) for row in ordered]
    else:
        ordered, spans, start = sorted(rows, key=lambda row: row.key), [], 0.0
        for row in ordered:
            end = start + _audio_duration_s(row.audio, talk)
            spans.append((start, end))
            start = end
    return [Segment(talk, float(start), float(end), row.text, ignored=row.ignored,
                    **({} if row.ignored else _audio_fields(row.audio, talk)))
            for row, (start, end) in zip(ordered, spans)]


def _audio_fields(value: Any, talk: str) -> dict[str, Any]:
    """Segment keyword arguments holding the row's audio: decoded array, encoded bytes or a file."""
    if isinstance(value, Mapping):
        if value.get("array") is not None:
            return {"audio": _to_16k_mono(np.asarray(value["array"], dtype=np.float32),
                                          int(value.get("sampling_rate") or SAMPLE_RATE))}
        if value.get("bytes"):
            return {"encoded": bytes(value["bytes"])}
        if value.get("path") and Path(value["path"]).is_file():
            return {"path": str(value["path"])}
    raise ClipSourceError(f"a row of talk {talk} has no usable audio; use a dataset whose 'audio' column "
                          f"holds encoded bytes or a decoded array.")


def _audio_duration_s(value: Any, talk: str) -> float:
    fields = _audio_fields(value, talk)
    if "audio" in fields:
        return fields["audio"].shape[0] / SAMPLE_RATE
    info = sf.info(io.BytesIO(fields["encoded"]) if "encoded" in fields else fields["path"])
    return info.frames / info.samplerate


def _to_16k_mono(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    if audio.ndim == 2:  # channels on the shorter axis, whichever way round
        audio = audio.mean(axis=int(np.argmin(audio.shape)))
    if sampling_rate != SAMPLE_RATE:
        import librosa
        audio = librosa.resample(audio, orig_sr=sampling_rate, target_sr=SAMPLE_RATE)
    return np.ascontiguousarray(audio, dtype=np.float32)
