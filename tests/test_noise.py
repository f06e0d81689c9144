"""Noise at a chosen SNR: the asked SNR within 0.5 dB for white and babble, seeded, inf leaves the clip alone."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from asr_core import noise
from asr_core.errors import AudioError

from helpers import tone

SNRS = (20, 10, 5, 0)
TOLERANCE_DB = 0.5


def _others() -> list[np.ndarray]:
    return [tone(1.0 + i, 150 + 70 * i, seed=i + 1) for i in range(5)]


def _snr(clean: np.ndarray, mixed: np.ndarray) -> float:
    """The SNR of mixed against clean, undoing the scale mix applies to keep the peak under 1."""
    clean, mixed = clean.astype(np.float64), mixed.astype(np.float64)
    gain = np.dot(mixed, clean) / np.dot(clean, clean)
    return 10 * math.log10(noise.power(clean) / noise.power(mixed / gain - clean))


@pytest.mark.parametrize("kind", noise.NOISE_KINDS)
@pytest.mark.parametrize("snr_db", SNRS)
def test_mix_hits_the_asked_snr(kind, snr_db):
    clip = tone(3.0)
    mixed = noise.mix(clip, snr_db, kind, babble_from=_others())
    assert mixed.dtype == np.float32 and mixed.shape == clip.shape
    assert np.max(np.abs(mixed)) <= 1.0
    assert abs(_snr(clip, mixed) - snr_db) < TOLERANCE_DB


def test_loud_mix_is_scaled_not_clipped_and_keeps_its_snr():
    clip = 3 * tone(2.0)  # peak near 0.9: at 0 dB the mix would pass 1
    mixed = noise.mix(clip, 0, "white")
    assert np.max(np.abs(mixed)) == pytest.approx(1.0)
    assert abs(_snr(clip, mixed)) < TOLERANCE_DB


@pytest.mark.parametrize("kind", noise.NOISE_KINDS)
def test_same_seed_same_output_other_seed_other_output(kind):
    clip = tone(2.0)
    a = noise.mix(clip, 5, kind, seed=7, babble_from=_others())
    b = noise.mix(clip, 5, kind, seed=7, babble_from=_others())
    c = noise.mix(clip, 5, kind, seed=8, babble_from=_others())
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_inf_leaves_the_clip_unchanged():
    clip = tone(1.0)
    assert np.array_equal(noise.mix(clip, math.inf, "white"), clip)
    assert np.array_equal(noise.mix(clip, math.inf, "babble"), clip)  # no other clips needed for clean audio


def test_babble_is_made_of_the_other_clips():
    clip = tone(2.0)
    others = [tone(2.0, 500, seed=3)]  # one talker at 500 Hz: the noise is that tone, nothing else
    residual = noise.mix(clip, 0, "babble", babble_from=others).astype(np.float64) - clip
    spectrum = np.abs(np.fft.rfft(residual))
    assert np.argmax(spectrum) * 16000 / len(residual) == pytest.approx(500, abs=1)


@pytest.mark.parametrize("kwargs, words", [
    (dict(snr_db=10, kind="pink"), "Unknown noise kind"),
    (dict(snr_db=math.nan), "SNR must be a number"),
    (dict(snr_db=10, kind="babble"), "at least 2 input files"),
])
def test_bad_requests_are_one_sentence(kwargs, words):
    with pytest.raises(AudioError, match=words):
        noise.mix(tone(1.0), **kwargs)


# --- the SNR axis in Explore (asr_app.sweep_views.wer_by_snr, asr_app.charts.wer_by_snr) ------------------------

def _rows(snr_db: float, kind: str, wer: float, bucket: str = "5s") -> dict:
    return dict(model="m", runtime="transformers", weights="pretrained", device="cpu", precision="fp32",
                batch_size=1, bucket=bucket, snr_db=snr_db, noise=kind, wer=wer, status="ok", latency_per_utt_s=1.0)


def test_wer_by_snr_puts_clean_last_and_on_every_noise_kind_line():
    from asr_app import charts, sweep_views
    from asr_core import sweep_table
    rows = [_rows(math.inf, "", 0.05), _rows(10, "white", 0.2), _rows(0, "white", 0.5), _rows(0, "babble", 0.7),
            _rows(math.nan, "", 0.9)]  # NaN: SNR unknown, left out
    ok = sweep_table.validate(pd.DataFrame(rows), "t.parquet")
    frame = sweep_views.wer_by_snr(ok)
    assert sweep_views.snr_count(ok) == 3 and sweep_views.snr_order(frame) == ["0 dB", "10 dB", "clean"]
    by = frame.set_index(["noise", "snr"])["wer"]
    assert by[("white", "clean")] == by[("babble", "clean")] == 0.05  # the clean point joins both lines
    assert by[("white", "0 dB")] == 0.5 and by[("babble", "0 dB")] == 0.7 and 0.9 not in frame["wer"].tolist()
    assert frame["series"].nunique() == 2  # one line per noise kind
    spec = charts.wer_by_snr(frame, sweep_views.snr_order(frame)).to_dict()
    assert spec["encoding"]["x"]["sort"] == ["0 dB", "10 dB", "clean"] and spec["encoding"]["y"]["field"] == "wer"


def test_a_sweep_file_without_snr_reads_as_clean():
    from asr_core import sweep_table
    old = pd.DataFrame([{k: v for k, v in _rows(0, "", 0.1).items() if k not in ("snr_db", "noise")}])
    table = sweep_table.validate(old, "old.parquet")
    assert table["snr_db"].tolist() == [math.inf] and table["noise"].tolist() == [""]
