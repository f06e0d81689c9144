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


def test_sources_on_a_benchmark_most_covering_first_and_one_source_s_row():
    table = published.load()
    clean = "LibriSpeech test-clean"
    models = ["openai/whisper-tiny", "openai/whisper-base", "openai/whisper-tiny.en", "facebook/wav2vec2-base-960h"]
    assert published.sources(table, clean, models) == [published.PAPER, published.LEADERBOARD, published.MODEL_CARD]
    assert published.sources(table, clean, ["facebook/wav2vec2-base-960h"])[:2] == [published.LEADERBOARD,
                                                                                    published.MODEL_CARD]
    assert published.row_for(table, "openai/whisper-tiny.en", clean, published.PAPER)["wer"] == pytest.approx(0.056)
    assert published.row_for(table, "openai/whisper-tiny.en", clean)["wer"] == pytest.approx(0.0566)  # preferred
    assert published.row_for(table, "openai/whisper-large-v3-turbo", clean, published.PAPER) is None
    assert published.source_name("facebook/wav2vec2-base-960h model card on the Hugging Face Hub") == "model card"


# The published cost table (precomputed/published_costs.csv) and its loader.

GOOD_COST = {"model": "openai/whisper-small", "engine": "faster-whisper", "precision": "int8", "batch_size": "8",
             "decoding": "beam 5", "hardware": "Intel Core i7-12700K", "hardware_id": "Core-i7-12700K",
             "dataset": "one 13-minute English recording", "clip_s": "780", "metric": "latency_s", "value": "51",
             "per": "13 min audio file", "source_title": "SYSTRAN/faster-whisper README", "source_date": "2024-11-21",
             "source_where": "Small model on CPU table", "source_url": "https://github.com/SYSTRAN/faster-whisper",
             "use": "validate", "note": ""}
GPU_IDS = ("A100-80GB", "RTX-3070-Ti", "V100", "V100S", "H100-SXM", "Jetson-Orin-Nano")


def write_costs(tmp_path, *rows):
    path = tmp_path / "published_costs.csv"
    pd.DataFrame(rows, columns=list(published.COST_COLUMNS)).to_csv(path, index=False)
    return path


def test_the_shipped_cost_table_loads_with_every_figure_sourced_and_labelled_published():
    table = published.load_costs()
    assert len(table) == 70 and set(table["kind"]) == {published.PUBLISHED_KIND}
    assert table["metric"].isin(published.COST_METRICS).all() and (table["value"] > 0).all()
    assert table["model"].isin(published.known_checkpoints()).all()
    assert (table[["source_title", "source_date", "source_where", "source_url"]] != "").all().all()
    per_source = table.groupby(table["source_title"].str.split(",| \\(").str[0]).size().to_dict()
    assert per_source == {"AI Energy Score": 1, "Chakravarty": 22, "Hugging Face Open ASR Leaderboard": 13,
                          "SYSTRAN/faster-whisper README": 22, "whisper.cpp v1.7.5 release notes": 12}


def test_fit_and_validate_split_the_gpu_figures_by_model_and_device():
    table = published.load_costs()
    assert (table.groupby(["model", "hardware_id"])["use"].nunique() == 1).all()
    gpu = table[table["hardware_id"].isin(GPU_IDS)]
    assert len(gpu) == 58 and 0.4 <= (gpu["use"] == "fit").mean() <= 0.6
    fitted = gpu[gpu["use"] == "fit"]
    assert set(fitted["hardware_id"]) == {"A100-80GB", "RTX-3070-Ti", "V100", "Jetson-Orin-Nano"}
    assert {"openai/whisper-tiny", "openai/whisper-medium", "openai/whisper-large-v3"} <= set(fitted["model"])
    assert (table[~table["hardware_id"].isin(GPU_IDS)]["use"] == "validate").all()  # CPUs: checks only


def test_the_leaderboard_rtfx_is_the_a100_batch_64_bf16_figure():
    rows = published.costs_for("openai/whisper-tiny.en", "A100-80GB", "rtfx")
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["value"] == pytest.approx(348.1239348) and row["batch_size"] == 64 and row["precision"] == "bf16"
    assert row["hardware"] == "NVIDIA A100-SXM4-80GB" and row["kind"] == "published"


def test_costs_for_filters_by_device_and_metric_and_never_merges_figures():
    large_v3 = published.costs_for("openai/whisper-large-v3")
    assert set(large_v3["hardware_id"]) == {"A100-80GB", "H100-SXM"}
    a100 = published.costs_for("openai/whisper-large-v3", hardware_id="A100-80GB", metric="rtfx")
    assert sorted(a100["value"]) == pytest.approx([68.56, 110.92, 145.5096549])  # long-form, multilingual, short
    jetson = published.costs_for("openai/whisper-small", "Jetson-Orin-Nano", "energy_j")
    assert dict(zip(jetson["precision"], jetson["value"])) == {"fp16": 515, "fp32": 1005, "int8": 530}
    assert published.costs_for("openai/whisper-small", "T4").empty
    assert published.costs_for("openai/whisper-tiny", metric="power_w").empty


def test_costs_for_takes_a_given_table(tmp_path):
    table = published.load_costs(write_costs(tmp_path, GOOD_COST))
    rows = published.costs_for("openai/whisper-small", table=table)
    assert len(rows) == 1 and rows.iloc[0]["value"] == 51 and rows.iloc[0]["batch_size"] == 8
    assert rows.iloc[0]["clip_s"] == 780 and rows.iloc[0]["kind"] == "published"


@needs_shared
def test_the_local_tiny_en_folder_finds_tiny_en_costs():
    rows = published.costs_for(str(TINY_EN), "A100-80GB")
    assert set(rows["model"]) == {"openai/whisper-tiny.en"} and len(rows) == 1


def test_empty_optional_numbers_load_as_missing(tmp_path):
    row = published.load_costs(write_costs(tmp_path, {**GOOD_COST, "batch_size": "", "clip_s": ""})).iloc[0]
    assert pd.isna(row["batch_size"]) and pd.isna(row["clip_s"])


@pytest.mark.parametrize("change, says", [
    ({"metric": "rtf"}, "published_costs.csv line 2 has metric 'rtf', which is not one of rtfx, latency_s, power_w, "
                        "energy_per_audio_s_j, energy_j, speedup: fix that row of the published cost table."),
    ({"value": "fast"}, "published_costs.csv line 2 has value fast, not a positive number: fix that row of the "
                        "published cost table."),
    ({"value": "-3"}, "published_costs.csv line 2 has value -3, not a positive number"),
    ({"value": ""}, "published_costs.csv line 2 has value empty, not a positive number"),
    ({"source_url": ""}, "published_costs.csv line 2 has no source_url: fix that row of the published cost table."),
    ({"source_where": ""}, "published_costs.csv line 2 has no source_where"),
    ({"use": "train"}, "published_costs.csv line 2 has use 'train', not one of fit, validate: fix that row of the "
                       "published cost table."),
    ({"source_date": "March 2024"}, "published_costs.csv line 2 has source_date 'March 2024', not a date as YYYY-MM "
                                    "or YYYY-MM-DD"),
    ({"source_url": "github.com/x"}, "published_costs.csv line 2 has source_url 'github.com/x', not a web address"),
    ({"hardware_id": "RTX 3070"}, "published_costs.csv line 2 has hardware_id 'RTX 3070', not a short key"),
    ({"batch_size": "0.5"}, "published_costs.csv line 2 has batch size 0.5, not a whole number from 1 up or empty"),
    ({"clip_s": "-1"}, "published_costs.csv line 2 has clip length -1, not a positive number of seconds or empty"),
    ({"per": ""}, "published_costs.csv line 2 gives latency_s without saying per what (column per): fix that row "
                  "of the published cost table."),
    ({"model": "openai/whisper-huge"}, "published_costs.csv line 2 names 'openai/whisper-huge', which is not a known "
                                      "checkpoint: use a registry id or one of openai/whisper-large-v3, "
                                      "openai/whisper-large-v2."),
])
def test_a_bad_cost_row_is_refused_with_one_sentence(tmp_path, change, says):
    with pytest.raises(PublishedTableError) as err:
        published.load_costs(write_costs(tmp_path, {**GOOD_COST, **change}))
    assert str(err.value).startswith(says) and str(err.value).count(". ") == 0


def test_each_cost_problem_is_its_own_sentence(tmp_path):
    with pytest.raises(PublishedTableError) as err:
        published.load_costs(write_costs(tmp_path, GOOD_COST, {**GOOD_COST, "metric": "rtf", "use": ""}))
    assert str(err.value).count("line 3") == 2 and "line 2" not in str(err.value)


def test_one_model_on_one_device_is_not_both_fitted_and_validated(tmp_path):
    with pytest.raises(PublishedTableError) as err:
        published.load_costs(write_costs(tmp_path, GOOD_COST, {**GOOD_COST, "use": "fit", "batch_size": "1"}))
    assert str(err.value) == ("published_costs.csv marks openai/whisper-small on Core-i7-12700K both fit and "
                              "validate: give all rows of one model on one device the same use.")


def test_a_missing_cost_column_is_named(tmp_path):
    path = tmp_path / "published_costs.csv"
    pd.DataFrame([GOOD_COST]).drop(columns=["use"]).to_csv(path, index=False)
    with pytest.raises(PublishedTableError, match="published_costs.csv lacks the column\\(s\\) use: give it model"):
        published.load_costs(path)


def test_an_unreadable_cost_table_is_one_sentence(tmp_path):
    with pytest.raises(PublishedTableError, match="missing.csv could not be read as CSV"):
        published.load_costs(tmp_path / "missing.csv")
