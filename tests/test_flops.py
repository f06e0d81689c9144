"""FLOPs of a run: the same whatever the clips' order, each clip counted at its own length, and the decoder's cost
split into a fixed part per clip and a part per generated token."""
from __future__ import annotations

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

