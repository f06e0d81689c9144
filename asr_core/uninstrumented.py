"""The measured loop's work without its instruments: the same rows and stages back to back, with no energy
windows, meters or per-stage syncs. The benchmark times it beside ``measure.transcribe`` to show what the
instruments cost; anything that only wants transcripts can call it too."""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import torch

from .measure import RunOptions, batches_of, join_rows, rows_of, run_batch, sync
from .runtimes import LoadedModel


def time_uninstrumented(model: LoadedModel, clips: Sequence[np.ndarray], options: RunOptions | None = None,
                        references: Sequence[str] | None = None) -> tuple[list[str], float]:
    """(one transcript per clip, seconds) of the measured loop's work alone. Warm up (and compile) with
    ``measure.transcribe`` first, and hold the device's lock (``locks.device_lock``) where other runs may share it."""
    opts = options or RunOptions()
    rows = rows_of(model, clips, references, opts)
    with torch.inference_mode():
        sync(model.device)
        t0 = time.perf_counter()
        texts = [t for b in batches_of(len(rows.audio), opts.batch_size) for t in run_batch(model, rows, b)[0]]
        sync(model.device)
        wall = time.perf_counter() - t0
    return join_rows(texts, rows.clip_index, len(clips)), wall
