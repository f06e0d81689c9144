"""Print the tables behind the README's findings from a sweep file (default: precomputed/cpu.parquet).

    python benchmarks/findings.py [precomputed/cpu.parquet]

Aggregated by ``asr_core.sweep_table.aggregate`` (the rule everywhere: medians over repeats, only status
"ok" rows); the model tables use the baseline runtime (transformers).
"""
from __future__ import annotations

import sys

import pandas as pd

from asr_core import sweep_table

BUCKET_ORDER = {"5s": 0, "15s": 1, "30s": 2, "60s": 3}


def short(model: str) -> str:
    return model.rsplit("/", 1)[-1]


def cells(df: pd.DataFrame) -> pd.DataFrame:
    med = sweep_table.aggregate(df)
    med["model"] = med["model"].map(short)
    med["bucket_i"] = med["bucket"].map(BUCKET_ORDER)
    return med.sort_values(["model", "bucket_i", "batch_size"])


def stage_shares(med: pd.DataFrame) -> pd.DataFrame:
    one = med[med["batch_size"] == 1].copy()
    total = one[["preprocess_s", "encoder_s", "decoder_s"]].sum(axis=1)
    for s in ("preprocess", "encoder", "decoder"):
        one[f"{s} %"] = (100 * one[f"{s}_s"] / total).round(0)
    return one[["model", "weights", "bucket", "preprocess %", "encoder %", "decoder %", "latency_per_utt_s"]]


def batch_scaling(med: pd.DataFrame) -> pd.DataFrame:
    t = med.pivot_table(index=["model", "bucket_i", "bucket"], columns="batch_size", values="latency_per_utt_s")
    t.columns = [f"b{c} s/utt" for c in t.columns]
    if "b1 s/utt" in t and "b8 s/utt" in t:
        t["b1/b8"] = (t["b1 s/utt"] / t["b8 s/utt"]).round(2)
    return t.reset_index().drop(columns="bucket_i").round(3)


def length_scaling(med: pd.DataFrame) -> pd.DataFrame:
    one = med[med["batch_size"] == 1]
    t = one.pivot_table(index="model", columns="bucket", values="rtf")
    return t[[b for b in BUCKET_ORDER if b in t.columns]].round(3)


def energy(med: pd.DataFrame) -> pd.DataFrame:
    one = med[med["batch_size"] == 1]
    t = one.pivot_table(index="model", columns="bucket", values="energy_per_audio_s_j")
    return t[[b for b in BUCKET_ORDER if b in t.columns]].round(2)


def runtimes(med: pd.DataFrame) -> pd.DataFrame:
    """Models measured with more than one runtime: RTF, energy and WER per runtime and precision."""
    many = med.groupby("model")["runtime"].transform("nunique") > 1
    t = med[many][["model", "runtime", "precision", "bucket", "batch_size", "rtf", "energy_per_audio_s_j", "wer"]]
    return t.sort_values(["model", "bucket", "batch_size", "rtf"]).round(3)


def noise(df: pd.DataFrame) -> pd.DataFrame:
    """WER by SNR (clean = no noise added) and bucket: pretrained, eager transformers fp32 rows."""
    base = df[(df["weights"] == "pretrained") & (df["runtime"] == "transformers") & (df["precision"] == "fp32")]
    med = sweep_table.aggregate(base, sweep_table.WER_KEYS)
    if med["snr_db"].nunique() < 2:
        return pd.DataFrame()
    med = med.assign(model=med["model"].map(short), snr=med["snr_db"].map(lambda v: "clean" if v == float("inf") else f"{v:g} dB"))
    t = med.pivot_table(index=["model", "bucket"], columns="snr", values="wer")
    order = sorted(t.columns, key=lambda c: -float("inf") if c == "clean" else -float(c.split()[0]))
    t = (100 * t[order]).round(1).reset_index()
    return t.assign(bucket_i=t["bucket"].map(BUCKET_ORDER)).sort_values(["model", "bucket_i"]).drop(columns="bucket_i")


def main(path: str = "precomputed/cpu.parquet") -> None:
    table = sweep_table.read(path)
    # the model tables: clean speech from the LibriSpeech folder (the noise and TED-talk rows have their own)
    df = table[(table["snr_db"] == float("inf")) & table["clip_source"].str.contains("librispeech")]
    every = cells(df)
    med = every[every["runtime"] == "transformers"]  # the tables below compare models on the baseline runtime
    sources = ", ".join(sorted(df.loc[df["status"] == "ok", "energy_source"].unique()))
    hw = ", ".join(sorted(set(df["cpu_name"].dropna()) | set(df["gpu_name"].dropna()) - {""}))
    print(f"# {path}: {len(table)} rows ({len(df)} clean LibriSpeech rows in the model tables) on {hw}; "
          f"energy source: {sources}\n")
    print("## Stage shares at batch 1 (% of latency)\n" + stage_shares(med).to_markdown(index=False) + "\n")
    print("## Latency per utterance by batch size\n" + batch_scaling(med).to_markdown(index=False) + "\n")
    print("## RTF by clip length (batch 1)\n" + length_scaling(med).to_markdown() + "\n")
    print("## Energy per audio second, J (batch 1)\n" + energy(med).to_markdown() + "\n")
    wer = med.dropna(subset=["wer"])
    if not wer.empty:
        print("## WER (pretrained rows)\n" + wer.pivot_table(index=["model", "bucket_i", "bucket"], columns="batch_size",
                                                            values="wer").round(3).reset_index()
              .drop(columns="bucket_i").to_markdown(index=False))
    by_runtime = runtimes(every)
    if not by_runtime.empty:
        print("\n## Runtimes (median RTF, energy per audio second in J, WER)\n" + by_runtime.to_markdown(index=False))
    by_snr = noise(table[table["clip_source"].str.contains("librispeech")])
    if not by_snr.empty:
        print("\n## WER (%) by SNR, white noise (pretrained rows)\n" + by_snr.to_markdown(index=False))
    ted = table[table["clip_source"].str.contains("ted-talk")]
    if not ted.empty:
        t = sweep_table.aggregate(ted, sweep_table.WER_KEYS).assign(model=lambda d: d["model"].map(short))
        print("\n## TED talk samples, WER (%)\n" + t.assign(wer=100 * t["wer"])[["model", "bucket", "n_clips", "wer"]]
              .round(1).to_markdown(index=False))
    failed = table[table["status"] != "ok"]
    if not failed.empty:
        print(f"\n{len(failed)} failed rows: " + "; ".join(sorted(set(failed["error"]))[:5]))


if __name__ == "__main__":
    main(*sys.argv[1:])
