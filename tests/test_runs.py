"""The one run path: the clips prepared (noise mixed, batch filled), the measured noise recorded, the token limit
refused in one sentence, and every failure a failed Result with its status."""
from __future__ import annotations

import math

import numpy as np
import pytest

from asr_core import noise, runs
from asr_core.errors import ModelError, ResourceError
from asr_core.measure import Cancelled
from helpers import tone


def _snr(clean: np.ndarray, noisy: np.ndarray) -> float:
    return 10 * math.log10(noise.power(clean) / noise.power(noisy.astype(np.float64) - clean))


def test_noise_is_mixed_at_the_snr_seeded_by_place_and_never_babbles_over_itself():
    clips = [tone(1.0), tone(1.0, 400, seed=2), tone(1.0, 500, seed=3)]
    mixed = runs.mixed(clips, 10, "babble")
    assert all(abs(_snr(c, m) - 10) < 0.5 for c, m in zip(clips, mixed))
    assert all(np.array_equal(a, b) for a, b in zip(mixed, runs.mixed(clips, 10, "babble")))  # seeded
    assert np.array_equal(mixed[1], noise.mix(clips[1], 10, "babble", noise.SEED + 1, [clips[0], clips[2]]))
    assert runs.mixed(clips, math.inf) == clips


def test_the_batch_is_filled_by_repeating_the_clips_in_turn():
    a, b = tone(0.5), tone(0.7, seed=1)
    clips, refs = runs.fill_batch([a, b], ["one", "two"], 5)
    assert [c is a for c in clips] == [True, False, True, False, True] and refs == ["one", "two", "one", "two", "one"]
    assert runs.fill_batch([a, b], None, 1) == ([a, b], None)  # more clips than a batch: all of them
    with pytest.raises(ModelError, match="Batch size must be at least 1, got 0."):
        runs.fill_batch([a], None, 0)


def test_the_noise_measured_is_the_noise_mixed(synthetic):
    clip = tone(1.0)
    request = runs.Request(str(synthetic.model_id), weights="synthetic", batch_size=2, clips=(clip,), snr_db=5.0,
                           tokens=3, count_flops=False, warmup=False)
    clips, _ = runs.prepare(request)
    assert len(clips) == 2 and clips[0] is clips[1] and abs(_snr(clip, clips[0]) - 5) < 0.5
    r = runs.measure(request, synthetic)
    assert (r.snr_db, r.noise, r.n_clips, r.status) == (5.0, "white", 2, "ok")
    clean = runs.measure(runs.Request(str(synthetic.model_id), weights="synthetic", clips=(clip,), tokens=3,
                                      count_flops=False, warmup=False), synthetic)
    assert (clean.snr_db, clean.noise) == (math.inf, "")


def test_more_forced_tokens_than_the_decoder_can_emit_are_refused(synthetic):
    request = runs.Request(str(synthetic.model_id), weights="synthetic", clips=(tone(5.0),), tokens=445)
    with pytest.raises(ModelError, match=r"\(444 new tokens per 30-second window\): use --tokens 444 or fewer\."):
        runs.measure(request, synthetic)


@pytest.mark.parametrize("exc, status", [(ResourceError("Out of memory."), "oom"),
                                         (Cancelled("Stopped before the first clip finished."), "cancelled"),
                                         (ModelError("Unknown model."), "error"), (KeyError("a bug"), "error")])
def test_a_failed_run_is_a_failed_result_with_its_status(exc, status):
    def load(request):
        raise exc
    request = runs.Request("/no/such/model", runtime="ctranslate2", device="cpu", weights="synthetic", batch_size=4,
                           bucket="5s", snr_db=10.0, noise="babble")
    r = runs.run(request, load, describe=lambda e: f"{type(e).__name__}: {e}")
    assert (r.status, r.error) == (status, f"{type(exc).__name__}: {exc}")
    assert (r.model, r.family, r.runtime, r.batch_size, r.bucket, r.snr_db, r.noise) == (
        "/no/such/model", "", "ctranslate2", 4, "5s", 10.0, "babble")


def test_a_run_stopped_before_it_starts_reports_nothing_and_frees_the_device(ctc, tiny_ctc_dir):
    import threading
    from asr_core import locks
    from asr_core.measure import RunControl
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled, match="nothing measured"):
        runs.measure(runs.Request(str(tiny_ctc_dir), clips=(tone(1.0),)), ctc, RunControl(stop=stop))
    assert not locks.device_lock("cpu").locked()  # the lock is released for the next run


def test_a_measurement_holds_its_devices_lock(ctc, tiny_ctc_dir, monkeypatch):
    from asr_core import locks
    held = []
    real = runs.transcribe
    monkeypatch.setattr(runs, "transcribe", lambda *a, **k: held.append(locks.device_lock("cpu").locked())
                        or real(*a, **k))
    r = runs.measure(runs.Request(str(tiny_ctc_dir), clips=(tone(1.0),), count_flops=False, warmup=False), ctc)
    assert r.status == "ok" and held == [True] and not locks.device_lock("cpu").locked()


def test_a_deferred_flop_count_runs_under_the_device_lock(synthetic, empty_flop_cache, monkeypatch):
    from asr_core import flops
    from asr_core.locks import device_lock
    from asr_core.measure import RunControl
    held, count = [], flops.count
    jobs = []
    request = runs.Request(str(synthetic.model_id), weights="synthetic", clips=(tone(1.0),), tokens=3, warmup=False)
    early = runs.measure(request, synthetic, RunControl(on_deferred_flops=jobs.append))
    monkeypatch.setattr(flops, "count", lambda *a, **k: held.append(device_lock("cpu").locked()) or count(*a, **k))
    late = jobs[0]()
    assert held == [True] and early.flops_source == flops.DEFERRED and late.flops_source == flops.COUNTED
    assert not device_lock("cpu").locked()
