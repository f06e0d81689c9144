"""Process memory over a run: resident memory (RSS) now, and its peak while the run goes, read on a thread
beside the power sampler (``sampler.py``), so a peak inside a long stage is seen too."""
from __future__ import annotations

import functools
import os
import threading
from typing import Callable

import psutil

RSS_INTERVAL_S = 0.05  # as often as the power sampler: a stage of a fraction of a second is still read


def resident_bytes() -> int | None:
    """This process's resident memory now; None when it cannot be read."""
    try:
        return _process(os.getpid()).memory_info().rss
    except psutil.Error:
        return None


@functools.cache
def _process(pid: int) -> psutil.Process:
    """One handle per process (a fork gets its own): PeakRss reads every RSS_INTERVAL_S during the timed loop."""
    return psutil.Process(pid)


class PeakRss:
    """The peak of ``read()`` (resident bytes; None: the read failed) since the last reset.

    ``sample()`` reads once; as a context manager a thread also reads every ``interval_s`` while the body runs.
    """

    def __init__(self, read: Callable[[], int | None] = resident_bytes, interval_s: float = RSS_INTERVAL_S):
        self._read, self.interval_s = read, interval_s
        self._lock = threading.Lock()
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        rss = self._read()
        if rss is not None:
            with self._lock:
                self._peak = max(self._peak, rss)

    def reset(self) -> None:
        """Start again from what is resident now, not from zero."""
        with self._lock:
            self._peak = 0
        self.sample()

    @property
    def peak_bytes(self) -> int:
        with self._lock:
            return self._peak

    def __enter__(self) -> PeakRss:
        self.reset()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="PeakRss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()
