"""Behind the page: the default model warmed up once, under the device's lock, and FLOPs counted after a run, one
count at a time, each result handed back with its FLOPs."""
from __future__ import annotations

import dataclasses
import threading

from asr_core.locks import RUN_OWNER, device_lock

from asr_app import background, configs
from fakes import result


def test_the_warm_up_loads_the_default_model_under_the_device_lock():
    loaded, request = [], configs.RunRequest("openai/whisper-tiny", "cpu", "fp32", "synthetic")

    def loader(*key):
        loaded.append((key, device_lock("cpu").locked(), device_lock("cpu").holder))
    background.warm_up(loader, lambda: request).join(30)
    assert loaded == [(request.key, True, background.WARM_UP_OWNER)]


def test_a_warm_up_that_fails_is_logged_and_the_server_goes_on(caplog):
    def loader(*key):
        raise OSError("disk gone")
    background.warm_up(loader, lambda: configs.RunRequest("m", "cpu", "fp32", "synthetic")).join(30)
    assert "warming up the default model failed" in caplog.text


def test_a_count_hands_back_the_result_with_its_flops_once_ready():
    filler, gate = background.FlopFiller(), threading.Event()
    early = result(total_flops=float("nan"), flops_source="deferred")
    late = dataclasses.replace(early, total_flops=2.7e10, flops_source="counted")
    owners = []

    def job():
        owners.append(RUN_OWNER.get())
        gate.wait(30)
        return late
    filler.submit(early, job)
    assert filler.pending(early) and filler.any_pending([result(), early]) and filler.filled(early) is early
    gate.set()
    filler._jobs[id(early)][1].result(30)
    assert not filler.pending(early) and filler.filled(early) is late
    assert owners == [background.FLOP_OWNER]  # a run waiting for the device names the count
    other = result()
    assert filler.filled(other) is other and not filler.pending(other)


def test_a_count_that_fails_leaves_the_result_as_it_was(caplog):
    filler, early = background.FlopFiller(), result(flops_source="deferred")

    def job():
        raise RuntimeError("out of memory")
    filler.submit(early, job)
    filler._jobs[id(early)][1].exception(30)
    assert filler.filled(early) is early and not filler.pending(early) and "counting the FLOPs" in caplog.text
