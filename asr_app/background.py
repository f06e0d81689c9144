"""Work the app does behind the page, never in a visitor's way: the default model loaded when the server starts, and
the FLOPs of a run counted after its result is shown.

A run's FLOPs depend only on its batch shapes, and a shape counted once is read back from ``asr_core.flop_cache``
by every later run. A shape the cache lacks is counted by a job the measured loop hands over
(``measure.RunControl.on_deferred_flops``); ``FlopFiller`` runs those jobs one at a time on one worker shared by
the server's sessions, each under the device's lock (``runs.measure`` wraps the job), and gives back the result
with its FLOPs once counted. ``state`` holds one filler per server and one warm-up per server.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable

from asr_core.locks import RUN_OWNER
from asr_core.results import Result

from .configs import RunRequest
from .live import load_exclusive

FLOP_OWNER = "the FLOP count of an earlier run"  # how a run waiting for the device names a count in progress
WARM_UP_OWNER = "loading the default model"  # … and the server's warm-up
MAX_KEPT = 64  # counted results kept for their sessions to collect; the oldest finished ones go first
log = logging.getLogger(__name__)

FlopJob = Callable[[], Result]


def warm_up(loader: Callable[..., object], request: Callable[[], RunRequest]) -> threading.Thread:
    """loader(*request().key) in a daemon thread under the device's lock (load_exclusive), so the page's first Run
    finds the model loaded; a failure is logged and the page loads it again when asked (and says why if it cannot).
    request is called in the thread: finding the default may probe the model hub."""
    def load() -> None:
        RUN_OWNER.set(WARM_UP_OWNER)
        try:
            load_exclusive(loader, request())
        except Exception:  # noqa: BLE001 - a warm-up that fails must not take the server down
            log.warning("warming up the default model failed; the first run loads it", exc_info=True)
    thread = threading.Thread(target=load, name="model-warm-up", daemon=True)
    thread.start()
    return thread


class FlopFiller:
    """Deferred FLOP counts, one at a time on one worker thread; each result's counted twin when it is ready."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flop-count",
                                        initializer=RUN_OWNER.set, initargs=(FLOP_OWNER,))
        self._jobs: dict[int, tuple[Result, Future[Result]]] = {}  # id(result) -> the result and its count
        self._lock = threading.Lock()

    def submit(self, result: Result, job: FlopJob) -> None:
        """Count result's FLOPs in the background (job: measure's, returning the whole Result)."""
        with self._lock:
            self._jobs[id(result)] = (result, self._pool.submit(job))
            finished = [k for k, (_, f) in self._jobs.items() if f.done()]
            for k in finished[:max(0, len(self._jobs) - MAX_KEPT)]:
                del self._jobs[k]

    def pending(self, result: Result) -> bool:
        """Whether result's FLOPs are being (or waiting to be) counted."""
        entry = self._jobs.get(id(result))
        return entry is not None and entry[0] is result and not entry[1].done()

    def any_pending(self, results: Iterable[Result]) -> bool:
        return any(self.pending(r) for r in results)

    def filled(self, result: Result) -> Result:
        """result with its FLOPs once counted; result itself while counting, or if the count failed (logged)."""
        entry = self._jobs.get(id(result))
        if entry is None or entry[0] is not result or not entry[1].done():
            return result
        try:
            return entry[1].result()
        except Exception:  # noqa: BLE001 - the result stands without FLOPs
            log.warning("counting the FLOPs of %s failed", result.model, exc_info=True)
            return result
