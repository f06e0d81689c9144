"""The published accuracy table: the shipped one loads and checks; a bad row is refused with a sentence."""
from __future__ import annotations

import pandas as pd
import pytest

from asr_core import published
from asr_core.models import REGISTRY
from asr_core.published import PublishedTableError

from helpers import TINY_EN, needs_shared

GOOD = {"model": "openai/whisper-tiny.en", "checkpoint": "tiny.en", "dataset": "LibriSpeech", "split": "test-clean",
        "wer_pct": "5.6", "rtfx": "", "normaliser": "Whisper English normaliser", "decoding": "greedy",
        "source": "Radford et al. 2022", "note": ""}


def write(tmp_path, *rows):
    path = tmp_path / "published.csv"
    pd.DataFrame(rows, columns=list(published.COLUMNS)).to_csv(path, index=False)
    return path


def test_the_shipped_table_loads_and_covers_all_six_models_on_librispeech_clean():
    table = published.load()
    assert table["source"].str.len().gt(0).all()  # every figure names where it was read
    clean = "LibriSpeech test-clean"
    assert set(REGISTRY) <= set(table.loc[table["benchmark"] == clean, "model"])  # every registry model
    assert published.benchmarks(table)[0] == clean
    assert published.wer_for(table, "openai/whisper-tiny", clean) == pytest.approx(0.076)  # the paper
    assert published.wer_for(table, "openai/whisper-tiny.en", clean) == pytest.approx(0.0566)  # the leaderboard first
    assert published.wer_for(table, "openai/whisper-large-v3-turbo", clean) == pytest.approx(0.021)
    assert published.wer_for(table, "facebook/wav2vec2-base-960h", clean) == pytest.approx(0.1253)
    assert published.wer_for(table, "openai/whisper-medium", clean) == pytest.approx(0.029)
    assert published.wer_for(table, "openai/whisper-small", "TED-LIUM 3 test") is None  # not tiny.en's or small.en's


def test_every_source_of_a_checkpoint_is_kept():
    table = published.load()
    w2v = table[(table["model"] == "facebook/wav2vec2-base-960h") & (table["benchmark"] == "LibriSpeech test-clean")]
    assert sorted(w2v["wer_pct"]) == [3.4, 12.53]
    study = table[table["source"].str.contains("2025 profiling study")]
    assert len(study) == 6 and (study["normaliser"] == "not stated").all()
    assert study["note"].str.contains("not comparable").all()


@needs_shared
def test_the_local_tiny_en_folder_lines_up_with_tiny_en_rows():
    table = published.load()
    assert published.wer_for(table, str(TINY_EN), "TED-LIUM 3 test") == pytest.approx(0.0597)
    rows = published.rows_for_models(table, [str(TINY_EN)])
    assert set(rows["model"]) == {"openai/whisper-tiny.en"} and len(rows) == 5


def test_a_good_row_loads(tmp_path):
    table = published.load(write(tmp_path, GOOD))
    assert table.iloc[0]["wer"] == pytest.approx(0.056) and table.iloc[0]["benchmark"] == "LibriSpeech test-clean"


@pytest.mark.parametrize("change, says", [
    ({"source": ""}, "published.csv line 2 has no source: fix that row of the published table."),
    ({"wer_pct": "150"}, "published.csv line 2 has WER 150, not a percentage from 0 to 100: fix that row of the "
                         "published table."),
    ({"wer_pct": ""}, "published.csv line 2 has WER empty, not a percentage from 0 to 100"),
    ({"model": "openai/whisper-tiny-finetune"}, "published.csv line 2 names 'openai/whisper-tiny-finetune', which is "
                                                "not a known checkpoint: use a registry id or one of "
                                                "openai/whisper-large-v3, openai/whisper-large-v2."),
    ({"rtfx": "-3"}, "published.csv line 2 has RTFx -3, not a positive number or empty"),
])
def test_a_bad_row_is_refused_with_one_sentence(tmp_path, change, says):
    with pytest.raises(PublishedTableError) as err:
        published.load(write(tmp_path, {**GOOD, **change}))
    assert str(err.value).startswith(says) and str(err.value).count(". ") == 0


def test_each_problem_is_its_own_sentence(tmp_path):
    with pytest.raises(PublishedTableError) as err:
        published.load(write(tmp_path, GOOD, {**GOOD, "source": "", "wer_pct": "150"}))
    assert str(err.value).count("line 3") == 2 and "line 2" not in str(err.value)


def test_a_missing_column_is_named(tmp_path):
    path = tmp_path / "published.csv"
    pd.DataFrame([GOOD]).drop(columns=["source"]).to_csv(path, index=False)
    with pytest.raises(PublishedTableError, match="published.csv lacks the column"):
        published.load(path)
