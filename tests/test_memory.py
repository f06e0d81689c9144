"""Process memory over a run: the peak of resident memory, its reset, and a real allocation seen."""
from __future__ import annotations

import mmap
import threading

from asr_core.memory import PeakRss, resident_bytes


def test_peak_rss_tracks_and_resets():
    rss: list[int | None] = [100]
    peak_rss = PeakRss(lambda: rss[0])
    for rss[0], peak in ((100, 100), (300, 300), (200, 300), (None, 300)):  # None: the read failed
        peak_rss.sample()
        assert peak_rss.peak_bytes == peak
    rss[0] = 150
    peak_rss.reset()
    assert peak_rss.peak_bytes == 150  # a reset starts from what is resident now, not from zero


def test_peak_rss_of_the_real_process_sees_an_allocation():
    peak_rss = PeakRss()  # no thread: each sample reads the real RSS itself
    peak_rss.sample()
    base = peak_rss.peak_bytes
    assert base > 0 and resident_bytes() > 0
    block = mmap.mmap(-1, 64 * 2**20)  # fresh pages: malloc could hand back memory that is resident already
    for offset in range(0, len(block), mmap.PAGESIZE):
        block[offset] = 1  # touch every page so it is resident
    peak_rss.sample()
    peak = peak_rss.peak_bytes
    assert peak >= base + 48 * 2**20
    block.close()
    peak_rss.reset()
    assert 0 < peak_rss.peak_bytes < peak


def test_the_thread_reads_while_the_body_runs_and_is_joined():
    read = threading.Event()
    values = iter(range(1, 10**6))

    def reading() -> int:
        read.set()
        return next(values)
    with PeakRss(reading, interval_s=0.001) as peak_rss:
        read.clear()
        assert read.wait(10)  # read by the thread, not only at the start
    after = peak_rss.peak_bytes
    assert after >= 2 and peak_rss._thread is None  # joined: nothing reads after the body
    assert peak_rss.peak_bytes == after
