"""The session's finished runs: the runs table (shown and as CSV), power traces and stages."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from asr_app import history
from asr_core.sampler import PowerSample
from fakes import result

TINY = "openai/whisper-tiny"


def test_runs_table_display_and_csv():
    runs = [("clip-a", result()), ("clip-b", result(model="facebook/wav2vec2-base-960h", family="ctc",
                                                      status="error", error="boom"))]
    table = history.runs_table(runs)
    assert table["clip"].tolist() == ["clip-a", "clip-b"]
    assert table.loc[0, "peak_memory_bytes"] == 800 * 2**20 and table.loc[0, "hypotheses"] == "captain freer says"
    shown = history.display_runs(table)
    assert list(shown.columns) == list(history.DISPLAY_COLUMNS.values())
    assert shown["WER (%)"].iloc[0] == pytest.approx(12.5) and shown["energy source"].iloc[0] == "estimate"
    back = pd.read_csv(io.BytesIO(history.runs_csv(table)))
    assert back["error"].fillna("").tolist() == ["", "boom"] and back["wer"].iloc[0] == pytest.approx(0.125)


def test_traces_and_stages_of_finished_runs():
    r = result()
    traces, sources = history.traces_of([r])
    assert traces[TINY] == [PowerSample(0.05, "cpu", 42.0), PowerSample(0.1, "cpu", 44.0)]
    assert sources[TINY]["cpu"] == "estimate"
    stages = history.run_stages([r, result(status="error")])
    assert stages["seconds"].tolist() == pytest.approx([0.1, 0.3, 0.6])  # the failed run has no stages
    assert set(stages["label"]) == {f"{TINY} · batch 1"}
    assert history.spans_of([r]) == {}  # a record without a measured span shades nothing

