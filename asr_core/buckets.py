"""Clip length buckets: the names the clip builder files clips under and every sweep table keys its rows by."""
from __future__ import annotations

from typing import Iterable

BUCKET_5S, BUCKET_15S, BUCKET_30S, BUCKET_60S = "5s", "15s", "30s", "60s"
# bucket -> (shortest, longest) clip in seconds
BUCKETS: dict[str, tuple[float, float]] = {
    BUCKET_5S: (3.0, 7.0), BUCKET_15S: (10.0, 20.0), BUCKET_30S: (25.0, 40.0), BUCKET_60S: (50.0, 75.0)}


def bucket_seconds(bucket: str) -> float:
    """'15s' -> 15.0; unknown names sort last."""
    try:
        return float(str(bucket).rstrip("s"))
    except ValueError:
        return float("inf")


def bucket_of(duration_s: float) -> str:
    """The bucket a duration falls in, or '' when it falls between buckets."""
    return next((name for name, (lo, hi) in BUCKETS.items() if lo <= duration_s <= hi), "")


def bucket_order(values: Iterable[str]) -> list[str]:
    """Bucket names shortest first."""
    return sorted(set(values), key=lambda b: (bucket_seconds(b), str(b)))
