"""The device lock: who holds it and since when, and free again once released."""
from __future__ import annotations

from asr_core import locks


def test_the_device_lock_names_who_holds_it():
    lock = locks.device_lock("test-device")
    token = locks.RUN_OWNER.set("session 7: whisper-tiny")
    try:
        with lock:
            assert lock.holder == "session 7: whisper-tiny" and lock.since > 0 and lock.locked()
    finally:
        locks.RUN_OWNER.reset(token)
    assert lock.holder == "" and not lock.locked()
    assert locks.device_lock("test-device") is lock  # one lock per device
