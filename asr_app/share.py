"""Share links: the URL query parameter behind each widget of Explore and Recommend, and the values a
use case starts Recommend's widgets from.

The pages bind these widgets with ``bind="query-params"``: Streamlit then keeps each one's value in the
address under its key, leaves a parameter out while its widget holds the default, and ignores a value
that is not one of the widget's options (a stale or mistyped link), so copying the address shares the view.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from asr_core.recommend import UseCase

from . import present

ANY = "any"  # Recommend's device option for "no device constraint"

# Explore: sweep column -> the parameter of its sidebar filter
FILTERS = {"model": "model", "device": "device", "precision": "precision", "weights": "weights",
           "runtime": "runtime", "bucket": "clips", "batch_size": "batch", "host": "machine", "audio": "audio"}
TAB = "tab"
SIZE = "size"  # the batch size of the Speed & energy tab
COST = "cost"
TRADEOFF_CLIPS = "tradeoff_clips"
BATCH_CLIPS = "batch_clips"
STAGE_CLIPS = "stage_clips"
SHOW_ALL = "all"  # every configuration on the charts, not only the first few
HOUR_METRIC = "per_hour"  # the Per audio hour tab's figure
HOUR_SIZE = "hour_size"
# the grid and price picker (Explore's sidebar, Recommend's expander)
GRID = "grid"
ELECTRICITY = "electricity"
PRICE_KWH = "price_kwh"
INSTANCE = "instance"
PRICE_HOUR = "price_hour"
LIVE = "live"
# the CPU vs GPU tab
HW_DEVICES = "hw"
HW_SIZE = "hw_batch"
HW_CLIPS = "hw_clips"
HW_RUNTIME = "hw_runtime"
HW_PRECISION = "hw_precision"

# Recommend
USE_CASE = "use_case"
DEVICE = "rec_device"
BUCKETS = "rec_clips"
BATCHES = "rec_batch"
OBJECTIVE = "objective"
PRETRAINED = "pretrained"
MIX_KINDS = "mix_kinds"  # rank projected GPUs against the measured CPU runs: only when asked
# UseCase field -> parameter of its number; "use_" + the parameter: whether the limit applies
LIMITS = {"max_latency_per_utt_s": "max_latency", "max_rtf": "max_rtf", "max_peak_memory_bytes": "max_memory_mib",
          "max_energy_per_audio_s_j": "max_energy"}


def limit_switch(param: str) -> str:
    """The parameter of the checkbox that turns a limit on."""
    return "use_" + param


def use_case_values(preset: UseCase, options: Mapping[str, Sequence]) -> dict[str, object]:
    """Recommend's widget values (by parameter) that a use case starts from, kept to what the data offers.

    options: sweep column -> the values present (``sweep_views.filter_options``). A limit the preset leaves
    open is switched off, with an empty number.
    """
    devices = options.get("device", [])
    values: dict[str, object] = {
        DEVICE: preset.device if preset.device in devices else ANY,
        BUCKETS: [b for b in preset.buckets if b in options.get("bucket", [])],
        BATCHES: [b for b in preset.batch_sizes if b in options.get("batch_size", [])],
        OBJECTIVE: preset.objective,
    }
    for field, param in LIMITS.items():
        value = getattr(preset, field)
        if field == "max_peak_memory_bytes" and value is not None:
            value = value / present.MIB
        values[param] = None if value is None else float(value)
        values[limit_switch(param)] = value is not None
    return values


def chosen_limit(on: bool, value: float | None) -> float | None:
    """A limit as recommend() takes it: None (no limit) when switched off or left empty."""
    return value if on and value is not None else None

