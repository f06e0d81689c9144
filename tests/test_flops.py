"""FLOPs of a run: the same whatever the clips' order, each clip counted at its own length, and the decoder's cost
split into a fixed part per clip and a part per generated token."""
from __future__ import annotations

import math

import pytest

from asr_core.measure import RunOptions, transcribe
from helpers import tone


def test_ctc_flops_do_not_depend_on_clip_order(ctc):
    short, long = tone(1.0, 200), tone(2.5, 330, seed=1)
    one = transcribe(ctc, [short, long], None, RunOptions(batch_size=1))
    other = transcribe(ctc, [long, short], None, RunOptions(batch_size=1))
    assert one.total_flops == pytest.approx(other.total_flops, rel=1e-9)
    assert one.encoder_flops_per_clip == pytest.approx(other.encoder_flops_per_clip, rel=1e-9)
    each = [transcribe(ctc, [clip], None, RunOptions(batch_size=1)).total_flops for clip in (short, long)]
    assert one.total_flops == pytest.approx(sum(each), rel=1e-9)  # each clip counted at its own length


def test_whisper_flops_do_not_depend_on_clip_order(synthetic):
    model = synthetic
    clips, refs = [tone(2.0), tone(4.0, seed=1)], ["a b", " ".join(["word"] * 30)]
    opts = RunOptions(batch_size=1, warmup=False)
    one = transcribe(model, clips, refs, opts)
    other = transcribe(model, clips[::-1], refs[::-1], opts)
    assert one.decoder_steps == other.decoder_steps
    assert one.total_flops == pytest.approx(other.total_flops, rel=1e-9)


def test_decoder_flops_per_token_leave_out_the_fixed_cost_per_clip(synthetic):
    model = synthetic
    few = transcribe(model, [tone(2.0)], None, RunOptions(tokens=5, warmup=False))
    many = transcribe(model, [tone(2.0)], None, RunOptions(tokens=45, warmup=False))
    assert few.decoder_flops_per_token == pytest.approx(many.decoder_flops_per_token, rel=1e-6)
    assert many.total_flops - few.total_flops == pytest.approx(40 * few.decoder_flops_per_token, rel=1e-6)
    fixed = few.total_flops - few.encoder_flops_per_clip - 5 * few.decoder_flops_per_token
    assert fixed > few.decoder_flops_per_token  # cross-attention keys and values: more than one token's worth



def test_a_shape_is_counted_once_and_read_back_from_the_cache(synthetic, empty_flop_cache, monkeypatch):
    from asr_core import flops
    counted = []
    count_shape = flops._count_shape
    monkeypatch.setattr(flops, "_count_shape", lambda *a: counted.append(1) or count_shape(*a))
    opts = RunOptions(tokens=5, warmup=False)
    first = transcribe(synthetic, [tone(2.0)], None, opts)
    again = transcribe(synthetic, [tone(3.0, seed=1)], None, opts)  # another clip of the same shape (Whisper pads)
    assert len(counted) == 1
    assert (first.flops_source, again.flops_source) == (flops.COUNTED, flops.CACHED)
    assert again.total_flops == first.total_flops and again.encoder_flops_per_clip == first.encoder_flops_per_clip
    other = transcribe(synthetic, [tone(2.0)] * 2, None, RunOptions(tokens=5, warmup=False, batch_size=2))
    assert len(counted) == 2 and other.flops_source == flops.COUNTED  # a new shape: two rows


def test_flops_deferred_are_counted_by_the_job_after_the_result(synthetic, empty_flop_cache):
    from asr_core import flops
    from asr_core.measure import RunControl
    jobs = []
    control = RunControl(on_deferred_flops=jobs.append)
    early = transcribe(synthetic, [tone(2.0)], None, RunOptions(tokens=5, warmup=False), control=control)
    assert early.flops_source == flops.DEFERRED and math.isnan(early.total_flops) and len(jobs) == 1
    late = jobs[0]()
    assert late.flops_source == flops.COUNTED and late.total_flops > 0
    assert (late.latency_s, late.hypotheses) == (early.latency_s, early.hypotheses)  # the same run, FLOPs filled in
    cached = transcribe(synthetic, [tone(2.0)], None, RunOptions(tokens=5, warmup=False), control=control)
    assert cached.flops_source == flops.CACHED and cached.total_flops == late.total_flops and len(jobs) == 1
