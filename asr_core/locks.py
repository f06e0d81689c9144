"""One lock per device, held by a run while it measures (``runs.measure``) and by the app while it loads a model,
so no two measurements ever share a device; the lock remembers who holds it and since when.

``RUN_OWNER`` names who is measuring, as a waiting run should name them (the app sets it per browser session).
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextvars import ContextVar

RUN_OWNER: ContextVar[str] = ContextVar("run_owner", default="another run")


class DeviceLock:
    """One device's lock, remembering who holds it (``RUN_OWNER``) and since when (epoch seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.holder, self.since = "", 0.0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got:
            self.holder, self.since = RUN_OWNER.get(), time.time()
        return got

    def release(self) -> None:
        self.holder, self.since = "", 0.0
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> DeviceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_DEVICE_LOCKS: dict[str, DeviceLock] = defaultdict(DeviceLock)


def device_lock(device: str) -> DeviceLock:
    """The lock a run holds while measuring on device; hold it to keep other work off a measurement."""
    return _DEVICE_LOCKS[device]
