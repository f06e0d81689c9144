"""Sweep files for the Explorer: loading, checking, filtering, aggregating, captions, recommend glue."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from asr_app import explore, recommendation
from asr_core import sweep_table
from asr_core.recommend import USE_CASES, recommend
from fakes import FAKE_CLIP_SOURCE, fake_sweep


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    return explore.normalise(fake_sweep(), "fake.parquet")


def test_read_sweep_parquet_and_csv_bytes_give_the_same_table(tmp_path):
    raw = fake_sweep()
    buf = io.BytesIO()
    raw.to_parquet(buf)
    from_parquet = explore.read_sweep(buf.getvalue(), "a.parquet")
    from_csv = explore.read_sweep(raw.to_csv(index=False).encode(), "b.csv")
    assert len(from_parquet) == len(from_csv) == len(raw)
    assert set(from_parquet[explore.SOURCE_FILE]) == {"a.parquet"}
    assert from_csv["latency_per_utt_s"].to_numpy() == pytest.approx(from_parquet["latency_per_utt_s"].to_numpy())
    assert from_csv["batch_size"].dtype.kind == "i"


def test_missing_columns_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(explore.SweepFileError, match="x.csv: missing column.*latency_per_utt_s"):
        explore.read_sweep(b"model,device\na,cpu\n", "x.csv")
    with pytest.raises(explore.SweepFileError, match="y.parquet: could not be read"):
        explore.read_sweep(b"not parquet", "y.parquet")
    with pytest.raises(explore.SweepFileError, match="not a sweep file"):
        explore.read_sweep(b"", "z.txt")


def test_optional_columns_are_filled():
    minimal = pd.DataFrame({c: ["x"] for c in explore.REQUIRED}).assign(batch_size=[4], latency_per_utt_s=[0.5])
    df = explore.normalise(minimal, "m.csv")
    assert df.loc[0, "runtime"] == "transformers" and df.loc[0, "repeat"] == 0
    assert np.isnan(df.loc[0, "wer"])


def test_load_folder_reads_every_parquet_and_reports_bad_ones(tmp_path):
    fake_sweep().to_parquet(tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"junk")
    df, errors = explore.load_folder(tmp_path)
    assert len(df) == len(fake_sweep()) and len(errors) == 1 and "bad.parquet" in errors[0]
    empty, none = explore.load_folder(tmp_path / "absent")
    assert empty.empty and none == []


def test_precomputed_dir_honours_the_env_var(monkeypatch, tmp_path):
    monkeypatch.delenv(explore.PRECOMPUTED_ENV, raising=False)
    assert explore.precomputed_dir(tmp_path) == tmp_path / "precomputed"
    monkeypatch.setenv(explore.PRECOMPUTED_ENV, "/elsewhere")
    assert str(explore.precomputed_dir(tmp_path)) == "/elsewhere"


def test_filter_options_are_in_natural_order(sweep):
    opts = explore.filter_options(sweep)
    assert opts["bucket"] == ["5s", "15s", "30s", "60s"]
    assert opts["batch_size"] == [1, 8, 32]
    assert set(explore.FILTERS) == set(opts)


def test_filters_keep_only_selected_rows(sweep):
    rows = explore.apply_filters(sweep, {"model": ["openai/whisper-tiny"], "device": ["cpu"]})
    assert set(rows["model"]) == {"openai/whisper-tiny"} and set(rows["device"]) == {"cpu"}
    assert len(rows) == 4 * 2 * 2 * 2  # buckets x batch sizes x repeats x weights
    assert explore.apply_filters(sweep, {"model": []}).empty


def test_split_status_separates_failures(sweep):
    ok, failed = explore.split_status(sweep)
    assert (ok["status"] == "ok").all()
    assert failed["status"].tolist() == ["oom"] and "error" in failed.columns


def test_aggregate_takes_medians_over_repeats(sweep):
    ok, _ = explore.split_status(sweep)
    agg = explore.aggregate(ok)
    assert (agg["n_runs"] == 2).all()
    one = dict(model="openai/whisper-base", device="cpu", bucket="15s", batch_size=8, weights="pretrained")
    rows = explore.subset(ok, **one)
    row = explore.subset(agg, **one)
    assert len(row) == 1
    assert row["latency_per_utt_s"].item() == pytest.approx(rows["latency_per_utt_s"].median())
    assert row["peak_memory_bytes"].item() == rows["peak_rss_bytes"].max()  # CPU: resident memory, worst repeat
    assert row["flops_per_utt"].item() == pytest.approx(rows["total_flops"].iloc[0] / 8)
    assert row["bucket_s"].item() == 15.0


def test_series_name_only_what_varies(sweep):
    ok, _ = explore.split_status(explore.apply_filters(sweep, {"device": ["cpu"], "batch_size": [1]}))
    agg = explore.aggregate(ok)
    assert set(agg["series"]) == {"wav2vec2-base-960h · pretrained", "whisper-base · pretrained",
                                  "whisper-tiny · pretrained", "whisper-tiny · synthetic"}
    one = explore.aggregate(explore.subset(ok, weights="pretrained", model="openai/whisper-base"))
    assert set(one["series"]) == {"whisper-base"}


def test_wer_rows_and_the_count_without(sweep):
    ok, _ = explore.split_status(sweep)
    agg = explore.aggregate(ok, keys=explore.WER_KEYS)
    has, missing = explore.with_wer(agg)
    assert missing == 2 * 4  # synthetic whisper-tiny: two precisions x four buckets
    assert has["wer"].notna().all()


def test_tradeoff_marks_the_pareto_front():
    agg = pd.DataFrame({"wer": [0.10, 0.05, 0.20, 0.07, np.nan], "rtf": [0.1, 0.5, 0.05, 0.6, 0.01]})
    points = explore.tradeoff(agg, "rtf")
    assert len(points) == 4  # the NaN WER row cannot be placed
    assert points["pareto"].tolist() == [True, True, True, False]
    assert explore.pareto_line(points, "rtf")["rtf"].tolist() == [0.05, 0.1, 0.5]


def test_stage_frame_per_utterance_and_ctc_head():
    df = pd.DataFrame({"series": ["w", "c"], "family": ["whisper", "ctc"], "n_clips": [4, 2],
                       "preprocess_s": [0.4, 0.2], "encoder_s": [2.0, 1.0], "decoder_s": [4.0, 0.4]})
    long = explore.stage_frame(df)
    got = {(r.label, r.stage): r.seconds for r in long.itertuples()}
    assert got == pytest.approx({("w", "preprocess"): 0.1, ("w", "encoder"): 0.5, ("w", "decoder"): 1.0,
                                 ("c", "preprocess"): 0.1, ("c", "encoder"): 0.5, ("c", "CTC head"): 0.2})
    whole = explore.stage_frame(df, per_utterance=False)
    assert whole["seconds"].sum() == pytest.approx(8.0)


def test_caption_names_hardware_repeats_and_energy_sources(sweep):
    ok, _ = explore.split_status(sweep)
    agg = explore.aggregate(ok)
    text = explore.caption(agg)
    assert "Intel(R) Xeon(R) Platinum 8480+" in text and "NVIDIA H100" in text
    assert "Medians over 2 run(s)" in text
    assert "estimate" in text and "not a measurement" in text
    cpu_only = explore.caption(explore.subset(agg, device="cpu"), energy=False)
    assert "GPU" not in cpu_only and "Energy" not in cpu_only
    assert explore.clip_sources(sweep) == [FAKE_CLIP_SOURCE]


def test_custom_use_case_and_objective_cost():
    preset = USE_CASES["Short voice commands"]
    same = explore.custom_use_case(preset, device="cpu", buckets=["5s"], batch_sizes=[1], objective="latency",
                                   max_latency_per_utt_s=1.0, max_rtf=None, max_memory_mib=None,
                                   max_energy_per_audio_s_j=None)
    assert same == preset
    custom = explore.custom_use_case(preset, device=None, buckets=[], batch_sizes=[], objective="wer",
                                     max_latency_per_utt_s=None, max_rtf=0.5, max_memory_mib=512,
                                     max_energy_per_audio_s_j=None)
    assert custom.name.endswith("(custom)") and custom.max_peak_memory_bytes == 512 * 2**20
    assert explore.objective_cost(custom) == "latency_per_utt_s"  # tie-break is latency
    assert explore.objective_cost(USE_CASES["Edge devices"]) == "energy_per_audio_s_j"


def test_recommend_points_mark_the_pick_and_the_front(sweep):
    rows = explore.subset(sweep, weights="pretrained")
    rec = recommend(rows, USE_CASES["Offline lectures"])
    cost = explore.objective_cost(rec.use_case)
    points = explore.recommend_points(rec, rows, cost)
    assert points["pick"].sum() == 1
    assert points.loc[points["pick"], "model"].item() == rec.pick["model"]
    assert points["pareto"].sum() == len(rec.pareto)
    assert (points["cpu_name"] != "").all()
    table = explore.candidates_table(rec.candidates)
    assert list(table.columns) == list(explore.CANDIDATE_COLUMNS.values())
    assert table["WER (%)"].iloc[0] == pytest.approx(100 * rec.pick["wer"])
