"""Clip length buckets: names, the bucket of a duration, and their order."""
from __future__ import annotations

from asr_core import buckets


def test_bucket_names():
    assert buckets.bucket_seconds("60s") == 60.0 and buckets.bucket_seconds("long") == float("inf")
    assert buckets.bucket_of(4.2) == "5s" and buckets.bucket_of(8.5) == "" and buckets.bucket_of(55) == "60s"


def test_buckets_sort_by_length_unknown_names_last():
    assert buckets.bucket_order(["60s", "5s", "long", "15s", "5s"]) == ["5s", "15s", "60s", "long"]
