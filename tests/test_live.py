"""Live runs for the app: the run a configuration asks for on the page's clip, the worker thread and its power
queue, model loading under the device lock, a session's runs one at a time, and what a stopped run keeps."""
from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time

import pytest

from asr_core import locks, runs
from asr_core.errors import ModelError
from asr_core.locks import device_lock
from asr_core.runtimes import load_model
from asr_core.sampler import PowerSample

from asr_app import configs, history, live
from asr_app.inputs import model_label
from fakes import result
from helpers import tone

@pytest.fixture(scope="module")
def loader():
    """load_model with a cache, as the app's st.cache_resource gives it."""
    return functools.lru_cache(maxsize=4)(load_model)


@pytest.fixture(scope="module")
def tiny(synthetic_whisper_dir):
    """The model the runs here run: a 32-wide Whisper folder (synthetic weights), and its label."""
    return str(synthetic_whisper_dir), model_label(str(synthetic_whisper_dir))


# --- inputs --------------------------------------------------------------------------------------

def test_the_clip_fills_the_batch_with_its_reference(tiny):
    audio = tone(0.5)
    request = live.clip_request(configs.RunRequest(tiny[0], "cpu", "fp32", "synthetic", batch_size=4), audio,
                                " hello there ")
    clips, refs = runs.prepare(request)
    assert len(clips) == 4 and all(c is audio for c in clips) and refs == ["hello there"] * 4
    empty = live.clip_request(configs.RunRequest(tiny[0], "cpu", "fp32", "synthetic", batch_size=2), audio, "  ")
    assert runs.prepare(empty)[1] is None
    with pytest.raises(ModelError):
        runs.prepare(live.clip_request(configs.RunRequest(tiny[0], "cpu", "fp32", "synthetic", batch_size=0), audio, ""))


def test_synthetic_tokens_follow_the_speaking_rate_without_a_reference():
    assert live.synthetic_tokens("some words", tone(2.0)) is None
    assert live.synthetic_tokens("", tone(4.0)) == round(4.0 * live.WORDS_PER_S * 1.3)


# --- loading and running -------------------------------------------------------------------------

class RecordingLock:
    """Stands in for locks.device_lock(device): logs each acquire and release, and says if it is held."""

    def __init__(self, events: list):
        self.events, self.held = events, False

    def acquire(self, *args, **kwargs) -> bool:
        self.held = True
        self.events.append("acquire")
        return True

    def release(self) -> None:
        self.held = False
        self.events.append("release")

    def __enter__(self) -> RecordingLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def test_loading_runs_under_the_lock_of_its_device(monkeypatch):
    events: list = []
    locks: dict[str, RecordingLock] = {}
    monkeypatch.setattr(live, "device_lock", lambda device: locks.setdefault(device, RecordingLock(events)))
    req = configs.RunRequest("m", "cuda", "fp32", "synthetic")

    def loader(*key):
        events.append(("load", key, [device for device, lock in locks.items() if lock.held]))
        return "model"
    assert live.load_exclusive(loader, req) == "model"
    # loaded while holding the request's device lock, and only that one
    assert events == ["acquire", ("load", req.key, ["cuda"]), "release"]

    def broken(*key):
        raise ModelError("no such model")
    events.clear()
    with pytest.raises(ModelError):
        live.load_exclusive(broken, req)
    assert events == ["acquire", "release"]  # a failed load must not keep the device locked


def test_loading_waits_for_a_measurement_on_the_same_device():
    """The real lock and a real thread: events, not sleeps, say where the loading thread has got to."""
    req = configs.RunRequest("m", "cpu", "fp32", "synthetic")
    started, loaded = threading.Event(), threading.Event()

    def load():
        started.set()
        live.load_exclusive(lambda *key: loaded.set(), req)
    with device_lock("cpu"):  # a measurement is running on the CPU
        t = threading.Thread(target=load, daemon=True)
        t.start()
        assert started.wait(5)
        # without the lock the loader runs at once; half a second is ample for it to show
        assert not loaded.wait(0.5)
    assert loaded.wait(5)  # the measurement has finished: loading goes ahead
    t.join(5)
    assert not t.is_alive()


def test_loading_pretrained_weights_that_cannot_be_had_fails_fast(monkeypatch):
    monkeypatch.setattr(live, "pretrained_problem", lambda m: "not cached and the hub cannot be reached")
    req = configs.RunRequest("x/y", "cpu", "fp32", "pretrained")
    with pytest.raises(ModelError, match="Pretrained weights unavailable: not cached"):
        live.load_exclusive(lambda *key: pytest.fail("must not load"), req)


def test_run_models_streams_power_then_aresult(loader, tiny, steady_rapl):
    model, label = tiny
    req = configs.RunRequest(model, "cpu", "fp32", "synthetic", batch_size=2)
    events = list(live.run_models([req], tone(1.0), "", loader, interval_s=0.02))
    kinds = [e.kind for e in events]
    assert kinds[0] == "loading" and kinds[-1] == "done" and "power" in kinds
    r = events[-1].result
    assert r.status == "ok" and r.n_clips == 2 and r.weights == "synthetic" and math.isnan(r.wer)
    assert r.decoder_steps == 2 * live.synthetic_tokens("", tone(1.0))
    last_power = [e for e in events if e.kind == "power"][-1]
    assert len(last_power.traces[label]) > 0
    assert last_power.sources[label]["cpu"] in ("rapl", "estimate")
    assert last_power.progress is not None and last_power.progress.phase == "measuring"
    # the span the page shades from: noted live when measuring began, then the result's own
    live_from, _ = last_power.spans[label]
    assert 0 < live_from <= r.measured_from_s + 0.5
    assert events[-1].spans[label] == (r.measured_from_s, r.measured_to_s)
    assert r.measured_from_s < r.measured_to_s
    assert history.spans_of([r]) == {label: (r.measured_from_s, r.measured_to_s)}


def test_rows_with_their_own_settings_and_repeats_run_in_one_go(loader, tiny, steady_rapl):
    model, label = tiny
    one = configs.RunRequest(model, "cpu", "fp32", "synthetic")
    two = dataclasses.replace(one, batch_size=2)
    finished: list = []
    events = list(live.run_models([one, two], tone(0.5), "", loader, interval_s=0.02, finished=finished,
                                  repeats=2))
    done = [e for e in events if e.kind == "done"]
    # in rounds: each row once per round, so a busy machine slows every row alike
    assert [(e.label, e.repeat, e.repeats) for e in done] == [
        (f"{label} · batch 1", 1, 2), (f"{label} · batch 2", 1, 2), (f"{label} · batch 1", 2, 2), (f"{label} · batch 2", 2, 2)]
    assert done[2].name == f"{label} · batch 1 (run 2 of 2)"
    assert [r.n_clips for r in finished] == [1, 2, 1, 2] and all(r.status == "ok" for r in finished)
    assert set(events[-1].traces) == {f"{label} · batch 1", f"{label} · batch 2"}  # one trace per row, not per model
    traces, _ = history.traces_of(finished)
    assert set(traces) == set(history.spans_of(finished)) == {f"{label} · batch 1", f"{label} · batch 2"}
    assert set(history.run_stages(finished)["label"]) == {f"{label} · batch 1", f"{label} · batch 2"}


def test_a_failed_row_is_not_repeated(loader):
    bad = configs.RunRequest("/no/such/model", "cpu", "fp32", "synthetic")
    finished: list = []
    list(live.run_models([bad], tone(0.5), "", loader, interval_s=0.02, finished=finished, repeats=3))
    assert [r.status for r in finished] == ["error"]


def test_a_failing_model_becomes_a_failed_row_and_the_next_one_runs(loader, tiny):
    model, label = tiny
    bad = configs.RunRequest("/no/such/model", "cpu", "fp32", "synthetic")
    good = configs.RunRequest(model, "cpu", "fp32", "synthetic")
    events = list(live.run_models([bad, good], tone(0.5), "a b", loader, interval_s=0.02))
    finished = [e for e in events if e.kind in ("done", "error")]
    assert [e.kind for e in finished] == ["error", "done"]
    failed = finished[0].result
    assert failed.status == "error" and "Unknown model '/no/such/model'" in failed.error
    assert failed.model == "/no/such/model" and failed.family == ""


def test_a_bug_in_one_model_keeps_the_others_results(loader, monkeypatch, tiny):
    model, label = tiny
    def flaky(*key):
        if key[0] == "broken/model":
            raise KeyError("a bug, not a user error")
        return loader(*key)
    reqs = [configs.RunRequest(model, "cpu", "fp32", "synthetic"), configs.RunRequest("broken/model", "cpu", "fp32", "synthetic")]
    finished: list = []
    events = list(live.run_models(reqs, tone(0.5), "a b", flaky, interval_s=0.02, finished=finished))
    assert [r.status for r in finished] == ["ok", "error"]
    assert "unexpected error (KeyError)" in finished[1].error
    assert [e.kind for e in events if e.kind in ("done", "error")] == ["done", "error"]


def test_stopping_the_page_cancels_the_run_and_keeps_what_finished(loader, tiny):
    """Closing the generator (Stop, a second Run, a closed tab) stops the worker at its next batch."""
    model, label = tiny
    req = configs.RunRequest(model, "cpu", "fp32", "synthetic", batch_size=1)
    audio, finished = tone(1.0), []
    events = live.run_models([req], audio, "", loader, interval_s=0.01, finished=finished)
    for event in events:
        if event.kind == "power":
            break
    started = time.perf_counter()
    events.close()
    assert time.perf_counter() - started < 30  # stopped at a batch boundary, not after the whole run
    assert not locks.device_lock("cpu").locked()  # the next run does not wait
    assert len(finished) == 1 and finished[0].status in ("cancelled", "ok")  # a stopped run is kept, never lost
    if finished[0].status == "cancelled" and not finished[0].n_clips:
        assert finished[0].error.startswith("Stopped") and label in finished[0].error


def test_a_run_stopped_before_a_clip_finished_names_a_local_model_by_its_folder():
    from asr_core.measure import Cancelled
    req = configs.RunRequest("/srv/models/whisper-tiny.en", "cpu", "fp32", "synthetic")
    r = live._failed(live.clip_request(req, tone(0.5), ""),
                     Cancelled("Stopped during the warm-up: nothing measured for /srv/models/whisper-tiny.en."))
    assert r.status == "cancelled"
    assert r.error == "Stopped during the warm-up: nothing measured for whisper-tiny.en (local)."


def test_a_waiting_run_says_who_holds_the_device(loader, tiny):
    model, label = tiny
    lock = locks.device_lock("cpu")
    token = locks.RUN_OWNER.set("a run in another browser session (abc123)")
    lock.acquire()
    locks.RUN_OWNER.reset(token)
    try:
        events = live.run_models([configs.RunRequest(model, "cpu", "fp32", "synthetic")], tone(0.5), "", loader,
                                 interval_s=0.01)
        first = next(events)
        assert first.kind == "waiting" and first.waiting_for.startswith("a run in another browser session (abc123)")
        assert "since" in first.waiting_for
    finally:
        lock.release()
    assert [e.kind for e in events][-1] == "done"


def test_two_sessions_at_once_never_overlap_their_measured_windows(loader, monkeypatch, tiny):
    """Two browser sessions press Run together: the device lock keeps their measurements apart."""
    model, label = tiny
    from asr_core import measure
    spans, real_loop = [], measure._measured_loop

    def recorded(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real_loop(*args, **kwargs)
        finally:
            spans.append((start, time.perf_counter()))
    monkeypatch.setattr(measure, "_measured_loop", recorded)
    req = configs.RunRequest(model, "cpu", "fp32", "synthetic", batch_size=2)
    results = []

    def session():
        events = list(live.run_models([req], tone(0.5), "a few words", loader, interval_s=0.02))
        results.extend(e.result for e in events if e.kind == "done")
    threads = [threading.Thread(target=session) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 2 and len(spans) == 2
    spans.sort()
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))


def test_live_run_hands_the_workers_exception_to_the_caller():
    class Broken:
        device = "cpu"
    run = live.LiveRun(Broken(), runs.Request("broken", clips=(tone(0.2),))).start()
    list(run.updates(0.01))
    assert run.done
    with pytest.raises(AttributeError, match="Broken"):  # the stub has no model: the worker's own error
        run.outcome()


def test_session_guard_makes_the_next_script_run_wait_and_hands_over_what_finished():
    """Stop or a second Run: the new script run waits for the stopped one, then takes its results."""
    guard, order = live.SessionGuard(), []

    def stopped_run():
        with guard:
            time.sleep(0.2)  # the model stops at its next batch boundary
            guard.keep("clip-a", [result(status="cancelled")], 3)
            order.append("kept")
    worker = threading.Thread(target=stopped_run)
    worker.start()
    while not guard.busy:
        time.sleep(0.01)
    assert guard.wait(30)
    order.append("next run")
    worker.join()
    assert order == ["kept", "next run"]
    (clip, results, rounds), = guard.take()
    assert clip == "clip-a" and [r.status for r in results] == ["cancelled"] and rounds == 3
    assert guard.take() == [] and not guard.busy
    with guard:
        assert not guard.wait(0.05)  # a run still going: the wait gives up after its timeout


def test_live_run_drain_collects_queued_samples():
    run = live.LiveRun(None, runs.Request("none"))
    for i in range(3):
        run.samples.put(PowerSample(i * 0.1, "cpu", 10.0 + i))
    assert [s.watts for s in run.drain()] == [10.0, 11.0, 12.0]
    assert run.drain() == [] and len(run.trace) == 3


def test_noise_is_mixed_at_the_asked_snr_and_labelled():
    import numpy as np
    clip = tone(2.0)
    noisy = live.with_noise(clip, 10.0)
    snr = 10 * np.log10(np.mean(clip.astype(np.float64) ** 2) / np.mean((noisy - clip).astype(np.float64) ** 2))
    assert abs(snr - 10.0) < 0.5
    assert live.with_noise(clip, math.inf) is clip or np.array_equal(live.with_noise(clip, math.inf), clip)
    assert live.noise_label(math.inf) == "clean" and live.noise_label(5.0) == "5 dB"


# --- FLOPs counted after the run ------------------------------------------------------------------------

def test_flops_the_cache_lacks_are_counted_after_the_session_run(loader, tiny, empty_flop_cache):
    from asr_core import flops
    from asr_app.background import FlopFiller
    model, _ = tiny
    req = configs.RunRequest(model, "cpu", "fp32", "synthetic")
    filler = FlopFiller()
    events = list(live.session_run(live.SessionGuard(), "a session", "clip", [req], tone(0.5), "", loader,
                                   count_later=filler.submit))
    first = next(e.result for e in events if e.kind == "done")
    assert first.flops_source == flops.DEFERRED and math.isnan(first.total_flops)  # the result came first
    deadline = time.time() + 60
    while filler.pending(first) and time.time() < deadline:
        time.sleep(0.05)
    counted = filler.filled(first)
    assert counted.flops_source == flops.COUNTED and counted.total_flops > 0 and counted.latency_s == first.latency_s
    again = list(live.session_run(live.SessionGuard(), "a session", "clip", [req], tone(0.5), "", loader,
                                  count_later=filler.submit))
    repeat = next(e.result for e in again if e.kind == "done")
    assert repeat.flops_source == flops.CACHED and repeat.total_flops == counted.total_flops  # counted once
    assert not filler.pending(repeat)


def test_without_a_counter_flops_the_cache_lacks_stay_uncounted(loader, tiny, empty_flop_cache):
    from asr_core import flops
    req = configs.RunRequest(tiny[0], "cpu", "fp32", "synthetic", batch_size=2)
    events = list(live.session_run(live.SessionGuard(), "class", "clip", [req], tone(0.5), "", loader))
    r = next(e.result for e in events if e.kind == "done")
    assert r.flops_source == flops.DEFERRED and math.isnan(r.total_flops)  # class mode: never counted in the run
