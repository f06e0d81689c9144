"""The sweep table: reading, validating, the one aggregation rule, stage tables, atomic writes."""
from __future__ import annotations

import errno
import io
import os
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from asr_core import sweep_table
from asr_core.results import Result
from fakes import fake_sweep


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    return sweep_table.validate(fake_sweep(), "fake.parquet")


# --- bounded, checked reading (what the app accepts from anyone) -------------------------------------

MIB = 2**20


def _parquet(table: pd.DataFrame | pa.Table) -> bytes:
    buf = io.BytesIO()
    if isinstance(table, pa.Table):
        pq.write_table(table, buf, compression="zstd")
    else:
        table.to_parquet(buf)
    return buf.getvalue()


def _same_text(n_rows: int, text: str) -> pa.DictionaryArray:
    """One string in every row, stored once: a few bytes on disk however long the string is."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n_rows, dtype=np.int32)), pa.array([text]))


def _refusal(data: bytes, name: str) -> str:
    with pytest.raises(sweep_table.SweepFileError) as caught:
        sweep_table.read(data, name)
    return str(caught.value)


def test_valid_files_read_the_same_as_the_table_that_was_written():
    raw = fake_sweep()
    expected = sweep_table.validate(raw, "s.parquet")
    for data, name in ((_parquet(raw), "s.parquet"), (raw.to_csv(index=False).encode(), "s.csv")):
        got = sweep_table.read(data, name)
        assert len(got) == len(raw) == 129
        for col in sweep_table.NUMBER_COLUMNS:
            want = expected[col].to_numpy(dtype=float)
            assert got[col].to_numpy(dtype=float) == pytest.approx(want, nan_ok=True), col
        for col in (*sweep_table.TEXT_COLUMNS, "git_commit"):
            assert got[col].tolist() == expected[col].tolist(), col
        assert got["batch_size"].dtype.kind == "i" and got["wer"].isna().sum() == expected["wer"].isna().sum() > 0


def test_a_file_over_the_byte_limit_is_refused_before_it_is_parsed(tmp_path):
    junk = b"x" * (26 * MIB)  # junk: parsed, it would be "could not be read"
    assert _refusal(junk, "big.csv") == ("big.csv: 26.0 MiB is over the 25 MiB limit for a sweep file; split the "
                                         "sweep into smaller files.")
    (tmp_path / "big.parquet").write_bytes(junk)
    fake_sweep().to_parquet(tmp_path / "good.parquet")
    df, errors = sweep_table.load_folder(tmp_path)
    assert errors == ["big.parquet: 26.0 MiB is over the 25 MiB limit for a sweep file; split the sweep into "
                      "smaller files."]
    assert set(df[sweep_table.SOURCE_FILE]) == {"good.parquet"}


def test_a_file_over_the_row_limit_is_refused():
    rows = sweep_table.MAX_ROWS + 1
    minimal = pd.DataFrame({c: ["x"] * rows for c in sweep_table.REQUIRED}).assign(batch_size=1, latency_per_utt_s=0.5)
    expected = "{}: more than 200,000 rows, the limit for a sweep file; split the sweep into smaller files."
    assert _refusal(_parquet(minimal), "many.parquet") == expected.format("many.parquet")
    assert _refusal(minimal.to_csv(index=False).encode(), "many.csv") == expected.format("many.csv")
    assert len(sweep_table.read(_parquet(minimal.iloc[1:]), "ok.parquet")) == sweep_table.MAX_ROWS


def test_text_repeated_in_every_row_is_refused_before_it_is_expanded():
    rows = sweep_table.MAX_ROWS
    table = pa.table({**{c: _same_text(rows, "t" * 5_000) for c in sweep_table.READ_TEXT_COLUMNS},
                      "batch_size": np.ones(rows, dtype=np.int64), "latency_per_utt_s": np.ones(rows)})
    data = _parquet(table)
    assert len(data) < MIB  # yet 3.8 GiB once every row's text is written out
    message = _refusal(data, "wide.parquet")
    match = re.fullmatch(r"wide\.parquet: its columns take (\d+) MiB once decompressed, over the 256 MiB limit for a "
                         r"sweep file; split the sweep into smaller files\.", message)
    assert match and int(match[1]) > 3_000, message  # about 1,000 characters per text cell, every row


def test_long_text_is_cut_and_unknown_or_nested_columns_cost_nothing():
    raw = fake_sweep()
    n = len(raw)
    table = pa.Table.from_pandas(raw, preserve_index=False)
    table = table.set_column(table.schema.get_field_index("error"), "error", _same_text(n, "E" * 10 * MIB))
    table = table.append_column("junk", _same_text(n, "J" * 10 * MIB))
    table = table.append_column("nested", pa.array([[1.0] * 1_000] * n))
    df = sweep_table.read(_parquet(table), "long.parquet")
    assert set(df["error"].str.len()) == {sweep_table.MAX_TEXT_CHARS}
    assert "junk" not in df.columns and "nested" not in df.columns
    assert df["latency_per_utt_s"].tolist() == pytest.approx(raw["latency_per_utt_s"].tolist())


def test_malformed_files_are_refused_with_one_sentence():
    good = _parquet(fake_sweep())
    assert _refusal(good[: len(good) // 2], "cut.parquet") == (
        "cut.parquet: could not be read as parquet (ArrowInvalid); check that it is a sweep file.")
    assert _refusal(b'model,device\n"a,cpu\n', "quote.csv") == (
        "quote.csv: could not be read as csv (ParserError); check that it is a sweep file.")
    nested = pa.table({**{c: pa.array(["x"]) for c in sweep_table.REQUIRED}, "batch_size": [1],
                       "latency_per_utt_s": pa.array([[0.5, 0.6]])})
    assert _refusal(_parquet(nested), "nested.parquet") == (
        "nested.parquet: column latency_per_utt_s holds list<element: double> values, not numbers or text; check that "
        "it is a sweep file.")


@pytest.mark.parametrize("column, value, rule", [
    ("batch_size", np.inf, "batch_size must be a whole number ≥ 1, but row 4 has inf"),
    ("batch_size", 0, "batch_size must be a whole number ≥ 1, but row 4 has 0"),
    ("batch_size", 1.5, "batch_size must be a whole number ≥ 1, but row 4 has 1.5"),
    ("repeat", -1, "repeat must be a whole number ≥ 0, but row 4 has -1"),
    ("wer", -1.0, "wer must be a finite number ≥ 0 or empty, but row 4 has -1.0"),
    ("wer", np.inf, "wer must be a finite number ≥ 0 or empty, but row 4 has inf"),
    ("latency_per_utt_s", -np.inf, "latency_per_utt_s must be a finite number ≥ 0 or empty, but row 4 has -inf"),
    ("energy_j", -2.5, "energy_j must be a finite number ≥ 0 or empty, but row 4 has -2.5"),
    ("peak_rss_bytes", -1, "peak_rss_bytes must be a finite number ≥ 0 or empty, but row 4 has -1"),
])
def test_values_that_make_no_sense_refuse_the_file(column, value, rule):
    bad = fake_sweep()
    if isinstance(value, float):
        bad[column] = bad[column].astype(float)
    bad.loc[3, column] = value
    for data, name in ((_parquet(bad), "bad.parquet"), (bad.to_csv(index=False).encode(), "bad.csv")):
        assert _refusal(data, name) == f"{name}: {rule}; fix that row or run the sweep again."


def test_text_in_a_count_column_is_refused_and_in_a_figure_is_empty():
    raw = fake_sweep()
    csv = raw.assign(batch_size=["eight"] + raw["batch_size"].tolist()[1:]).to_csv(index=False).encode()
    assert _refusal(csv, "t.csv") == ("t.csv: batch_size must be a whole number ≥ 1, but row 1 has eight; fix that "
                                      "row or run the sweep again.")
    df = sweep_table.read(raw.assign(rtf="fast").to_csv(index=False).encode(), "f.csv")
    assert df["rtf"].isna().all() and df["latency_per_utt_s"].notna().all()


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
    rows = ok[(ok[list(one)] == pd.Series(one)).all(axis=1)]
    row = agg[(agg[list(one)] == pd.Series(one)).all(axis=1)]
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


# --- merging sweeps from several machines ----------------------------------------------------------------------

def _rows(host=None, batch_sizes=(1, 2), **extra) -> pd.DataFrame:
    df = pd.DataFrame([dict(model="m", runtime="transformers", weights="synthetic", device="cpu", precision="fp32",
                            batch_size=b, bucket="5s", repeat=0, status="ok", latency_s=0.5, **extra)
                       for b in batch_sizes])
    return df if host is None else df.assign(host=host)


def test_merge_rows_keeps_one_key_from_two_hosts_and_names_a_host_that_measured_it_twice():
    merged = sweep_table.merge_rows({"a.parquet": _rows("x"), "b.parquet": _rows("y")})
    assert sorted(zip(merged["host"], merged["batch_size"])) == [("x", 1), ("x", 2), ("y", 1), ("y", 2)]
    floats = _rows("x", batch_sizes=(2.0, 8.0))  # 2.0 is batch size 2
    with pytest.raises(sweep_table.SweepFileError, match=r"^Row model=m, .*batch_size=2, bucket=5s, repeat=0 from "
                                                         r"host x is in a\.parquet and c\.csv: one machine"):
        sweep_table.merge_rows({"a.parquet": _rows("x"), "c.csv": floats})


def test_merge_rows_counts_rows_without_a_host_as_one_unknown_host():
    with pytest.raises(sweep_table.SweepFileError, match=r"from no recorded host is in old1\.parquet and "
                                                         r"old2\.parquet"):
        sweep_table.merge_rows({"old1.parquet": _rows(), "old2.parquet": _rows(batch_sizes=(2,))})
    merged = sweep_table.merge_rows({"old.parquet": _rows(), "new.parquet": _rows("x")})
    assert sorted(merged["host"]) == ["", "", "x", "x"]


def test_merge_rows_turns_transcript_lists_beside_their_text_into_text():
    lists = _rows("x", batch_sizes=(1,)).assign(hypotheses=[np.array(["a b", "c"])])
    text = _rows("y", batch_sizes=(1,)).assign(hypotheses=["['a b', 'c']"])
    merged = sweep_table.merge_rows({"a.parquet": lists, "b.csv": text})
    assert merged["hypotheses"].tolist() == ["['a b', 'c']"] * 2
    kept = sweep_table.merge_rows({"a.parquet": lists, "b.parquet": lists.assign(host="y")})
    assert all(isinstance(v, np.ndarray) for v in kept["hypotheses"])


@pytest.mark.parametrize("value, shown", [(1e300, "1e+300"), (2**63, "9.223372036854776e+18"), (1_000_001, "1000001.0")])
def test_counts_are_range_checked_not_wrapped_round(value, shown):
    """batch_size=1e300 passed as a whole number and was stored as -9223372036854775808."""
    csv = fake_sweep().astype({"batch_size": float}).assign(batch_size=float(value)).to_csv(index=False).encode()
    assert _refusal(csv, "t.csv") == (f"t.csv: batch_size must be at most 1,000,000, but row 1 has {shown}; fix that "
                                      f"row or run the sweep again.")


def test_a_file_from_before_decoder_steps_was_named_reads_under_the_new_name(tmp_path):
    """decoder_tokens (padded decoder steps x rows) became decoder_steps: an older file reads as a new one."""
    rows = pd.DataFrame([{**Result(model="m", family="whisper", weights="synthetic", device="cpu", precision="fp32",
                                   bucket="5s", latency_per_utt_s=0.1, decoder_steps=42).to_dict(), "repeat": 0}])
    old = rows.rename(columns={"decoder_steps": "decoder_tokens"})
    for suffix in (".parquet", ".csv"):
        path = tmp_path / f"old{suffix}"
        sweep_table.write_atomic(old, path)
        assert sweep_table.read(path)["decoder_steps"].tolist() == [42]
        read = sweep_table.read_rows(path)
        assert read["decoder_steps"].tolist() == [42] and "decoder_tokens" not in read.columns
