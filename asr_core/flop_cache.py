"""FLOPs already counted, kept on disk: a batch shape counted once is read back by every later run, in any process.

Counting a shape runs the model on ``torch.utils.flop_counter`` (seconds for whisper-tiny on a small CPU), yet its
FLOPs depend only on the architecture, the runtime, the precision where it changes the operators, the batch's rows
and a CTC model's padded length. ``flops`` builds that key (``key``); this module keeps the figures: a small JSON
file of at most ``MAX_ENTRIES`` entries (the least recently written go first), written atomically. A cache that
cannot be read or written is passed over (logged): a run never fails for it, it counts again.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .runtimes.cache import CACHE_ROOT

CACHE_ENV = "ASR_FLOP_CACHE"  # the cache file; "off" keeps no cache (every run counts)
OFF = "off"
DEFAULT_PATH = CACHE_ROOT / "flops.json"
MAX_ENTRIES = 512  # a few hundred shapes: every registry model at every batch size, and CTC lengths besides
VERSION = 1  # part of every key: raise it when the way a shape is counted changes, and old figures are never read
# config.json entries that do not change what a model computes
IGNORED_CONFIG = ("_name_or_path", "transformers_version", "torch_dtype", "dtype", "architectures")
_lock = threading.Lock()  # one writer at a time in this process (another process's write may win: a recount)
log = logging.getLogger(__name__)


def cache_path() -> Path | None:
    """$ASR_FLOP_CACHE (~ expanded), else ~/.cache/asr-cost-explorer/flops.json; None when it is "off"."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() == OFF:
        return None
    return Path(value).expanduser() if value else DEFAULT_PATH


def config_hash(config: Mapping[str, Any], *more: object) -> str:
    """A digest of an architecture: its config (less what does not change the computation) and more facts."""
    kept = {k: v for k, v in config.items() if k not in IGNORED_CONFIG}
    text = json.dumps([kept, *more], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def key(*parts: object) -> str:
    """The key of one entry: the cache's VERSION and the parts, joined."""
    return "|".join(map(str, (f"v{VERSION}", *parts)))


def get(entry: str, path: Path | None = None) -> tuple[float, ...] | None:
    """The figures stored under entry, or None (not there, no cache, or a cache that cannot be read)."""
    return get_many([entry], path).get(entry)


def get_many(entries: Iterable[str], path: Path | None = None) -> dict[str, tuple[float, ...]]:
    """The figures stored under each of entries that the cache holds, the file read once."""
    stored = _read(path or cache_path())
    return {e: tuple(float(v) for v in values) for e in entries if isinstance(values := stored.get(e), list)}


def put(entries: Mapping[str, Sequence[float]], path: Path | None = None) -> None:
    """Store figures under their keys (most recent last), keeping MAX_ENTRIES at most; never raises."""
    path = path or cache_path()
    if path is None or not entries:
        return
    with _lock:
        stored = _read(path)
        for entry, values in entries.items():
            stored.pop(entry, None)
            stored[entry] = [float(v) for v in values]
        kept = dict(list(stored.items())[-MAX_ENTRIES:])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
            tmp.write_text(json.dumps(kept), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("the FLOP cache %s cannot be written (%s): shapes will be counted again", path, exc)


def _read(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("the FLOP cache %s cannot be read (%s): shapes will be counted again", path, exc)
        return {}
    return data if isinstance(data, dict) else {}
