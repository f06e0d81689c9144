"""The sweep table: reading, validating, the one aggregation rule, stage tables, atomic writes."""
from __future__ import annotations

import errno
import io
import os

import numpy as np
import pandas as pd
import pytest

from asr_app import explore
from asr_core import sweep_table
from fakes import fake_sweep


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    return sweep_table.validate(fake_sweep(), "fake.parquet")


def test_read_sweep_parquet_and_csv_bytes_give_the_same_table(tmp_path):
    raw = fake_sweep()
    buf = io.BytesIO()
    raw.to_parquet(buf)
    from_parquet = sweep_table.read(buf.getvalue(), "a.parquet")
    from_csv = sweep_table.read(raw.to_csv(index=False).encode(), "b.csv")
    assert len(from_parquet) == len(from_csv) == len(raw)
    assert set(from_parquet[sweep_table.SOURCE_FILE]) == {"a.parquet"}
    assert from_csv["latency_per_utt_s"].to_numpy() == pytest.approx(from_parquet["latency_per_utt_s"].to_numpy())
    assert from_csv["batch_size"].dtype.kind == "i"


def test_missing_columns_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(sweep_table.SweepFileError, match="x.csv: missing column.*latency_per_utt_s"):
        sweep_table.read(b"model,device\na,cpu\n", "x.csv")
    with pytest.raises(sweep_table.SweepFileError, match="y.parquet: could not be read"):
        sweep_table.read(b"not parquet", "y.parquet")
    with pytest.raises(sweep_table.SweepFileError, match="not a sweep file"):
        sweep_table.read(b"", "z.txt")


def test_optional_columns_are_filled():
    minimal = pd.DataFrame({c: ["x"] for c in sweep_table.REQUIRED}).assign(batch_size=[4], latency_per_utt_s=[0.5])
    df = sweep_table.validate(minimal, "m.csv")
    assert df.loc[0, "runtime"] == "transformers" and df.loc[0, "repeat"] == 0
    assert np.isnan(df.loc[0, "wer"])


def test_load_folder_reads_every_parquet_and_reports_bad_ones(tmp_path):
    fake_sweep().to_parquet(tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"junk")
    df, errors = sweep_table.load_folder(tmp_path)
    assert len(df) == len(fake_sweep()) and len(errors) == 1 and "bad.parquet" in errors[0]
    empty, none = sweep_table.load_folder(tmp_path / "absent")
    assert empty.empty and none == []


def test_split_status_separates_failures(sweep):
    ok, failed = sweep_table.split_status(sweep)
    assert (ok["status"] == "ok").all()
    assert failed["status"].tolist() == ["oom"] and "error" in failed.columns


def test_aggregate_takes_medians_over_repeats(sweep):
    ok, _ = sweep_table.split_status(sweep)
    agg = sweep_table.aggregate(ok)
    assert (agg["n_runs"] == 2).all()
    one = dict(model="openai/whisper-base", device="cpu", bucket="15s", batch_size=8, weights="pretrained")
    rows = explore.subset(ok, **one)
    row = explore.subset(agg, **one)
    assert len(row) == 1
    assert row["latency_per_utt_s"].item() == pytest.approx(rows["latency_per_utt_s"].median())
    assert row["peak_memory_bytes"].item() == rows["peak_rss_bytes"].max()  # CPU: resident memory, worst repeat
    assert row["flops_per_utt"].item() == pytest.approx(rows["total_flops"].iloc[0] / 8)
    assert row["bucket_s"].item() == 15.0


def test_stage_seconds_per_utterance_and_ctc_head():
    df = pd.DataFrame({"series": ["w", "c"], "family": ["whisper", "ctc"], "n_clips": [4, 2],
                       "preprocess_s": [0.4, 0.2], "encoder_s": [2.0, 1.0], "decoder_s": [4.0, 0.4]})
    long = sweep_table.stage_seconds(df, "series")
    got = {(r.label, r.stage): r.seconds for r in long.itertuples()}
    assert got == pytest.approx({("w", "preprocess"): 0.1, ("w", "encoder"): 0.5, ("w", "decoder"): 1.0,
                                 ("c", "preprocess"): 0.1, ("c", "encoder"): 0.5, ("c", "CTC head"): 0.2})
    whole = sweep_table.stage_seconds(df, "series", per_utterance=False)
    assert whole["seconds"].sum() == pytest.approx(8.0)


def test_peak_memory_uses_gpu_reserved_on_cuda_and_rss_on_cpu():
    assert sweep_table.peak_memory_bytes("cuda", 5, 7) == 5
    assert sweep_table.peak_memory_bytes("cpu", 5, 7) == 7
    out = sweep_table.peak_memory_bytes(pd.Series(["cuda", "cpu"]), pd.Series([5, 5]), pd.Series([7, 7]))
    assert list(np.asarray(out)) == [5, 7]


def test_a_failed_atomic_write_leaves_the_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "t.json"
    target.write_text("before")

    def full_disk(tmp):
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(OSError, match="No space left on device"):
        sweep_table.replace_atomic(target, full_disk)
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"] and target.read_text() == "before"
    sweep_table.replace_atomic(target, lambda tmp: tmp.write_text("after"))
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"] and target.read_text() == "after"


def test_read_rows_names_a_file_it_cannot_read(tmp_path):
    (tmp_path / "s.parquet").write_bytes(b"junk")
    with pytest.raises(sweep_table.SweepFileError, match=r"s\.parquet could not be read as a sweep table "
                                                          r"\(ArrowInvalid\): move it away or choose another --out\."):
        sweep_table.read_rows(tmp_path / "s.parquet")
    assert sweep_table.read_rows(tmp_path / "absent.parquet").empty


def test_remove_stale_temps_removes_only_that_files_temporaries(tmp_path):
    for name in ("s.parquet", ".s.parquet.tmp123", ".s.parquet.tmp9", ".t.parquet.tmp1", "s.parquet.lock"):
        (tmp_path / name).write_bytes(b"x")
    sweep_table.remove_stale_temps(tmp_path / "s.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".t.parquet.tmp1", "s.parquet", "s.parquet.lock"]
