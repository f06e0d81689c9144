import dataclasses
import math

import pandas as pd
import pytest

from asr_core import published
from asr_core.recommend import (EDGE_DEVICES, LIVE_CAPTIONS, MEASURED_ONLY, MIB, OFFLINE_LECTURES, SHORT_COMMANDS,
                                USE_CASES, Accuracy, UseCase, pace, pareto_front, recommend,
                                summarise)
from asr_core.results import RESULT_FIELDS, Result, failed_result


def run(model, device, bucket, batch=1, *, lat, rtf, wer, energy, mem_mib, weights="pretrained", source=None,
        model_mib=None, precision=None, runtime="transformers", words=0):
    cuda = device == "cuda"
    mem = int(mem_mib * MIB)
    model_bytes = int((mem_mib if model_mib is None else model_mib) * MIB)  # the weights: here as much as the peak
    return Result(
        model=model, family="whisper", weights=weights, device=device,
        precision=precision or ("fp16" if cuda else "fp32"), runtime=runtime,
        batch_size=batch, bucket=bucket, latency_per_utt_s=lat, rtf=rtf,
        wer=math.nan if weights == "synthetic" else wer, energy_per_audio_s_j=energy, energy_per_utt_j=5 * energy,
        energy_source=source or ("nvml_counter" if cuda else "rapl"),
        peak_gpu_reserved_bytes=mem if cuda else 0, peak_rss_bytes=400 * MIB if cuda else mem, model_bytes=model_bytes,
        references=("the cat sat on the mat " * (words // 6),) if words else (),
    ).to_dict()


ROWS = [
    # CPU, batch 1, 5 s clips; m-small ran twice
    run("m-small", "cpu", "5s", lat=0.25, rtf=0.05, wer=0.10, energy=1.8, mem_mib=500),
    run("m-small", "cpu", "5s", lat=0.35, rtf=0.07, wer=0.14, energy=2.2, mem_mib=600),
    run("m-mid", "cpu", "5s", lat=0.6, rtf=0.12, wer=0.09, energy=4.0, mem_mib=900),
    run("m-big", "cpu", "5s", lat=1.5, rtf=0.3, wer=0.06, energy=9.0, mem_mib=2500),
    failed_result("m-fast", "whisper", "pretrained", "cpu", "fp32", "out of memory", bucket="5s").to_dict(),
    # CPU, 15 s clips
    run("m-tiny", "cpu", "15s", lat=0.1, rtf=0.02, wer=None, energy=0.5, mem_mib=1500, weights="synthetic"),
    run("m-huge", "cpu", "15s", lat=12.0, rtf=0.8, wer=0.04, energy=20.0, mem_mib=6000),
    # GPU
    run("m-big", "cuda", "5s", lat=0.2, rtf=0.04, wer=0.06, energy=1.0, mem_mib=3000),
    run("m-big", "cuda", "30s", 8, lat=0.05, rtf=0.002, wer=0.05, energy=0.3, mem_mib=5000),
    run("m-big", "cuda", "30s", 1, lat=0.4, rtf=0.013, wer=0.05, energy=0.8, mem_mib=3000),
    run("m-small", "cuda", "30s", 8, lat=0.02, rtf=0.001, wer=0.10, energy=0.1, mem_mib=1000),
]


@pytest.fixture
def df():
    return pd.DataFrame(ROWS, columns=list(RESULT_FIELDS))


def picked(rec):
    p = rec.pick
    return (p["model"], p["device"], p["bucket"], p["batch_size"])


def test_pareto_front_minimises_both_and_skips_nan():
    d = pd.DataFrame({"x": [1, 2, 3, 2, math.nan, 1], "y": [3, 2, 1, 3, 0, 3]}, index=list("abcdef"))
    assert pareto_front(d, "x", "y").to_dict() == {
        "a": True, "b": True, "c": True, "d": False, "e": False, "f": True}  # a and f tie: neither beats the other


def test_pareto_front_empty():
    assert pareto_front(pd.DataFrame({"x": [], "y": []}), "x", "y").empty


def test_summarise_medians_peaks_and_ignores_failed_rows(df):
    s = summarise(df)
    assert len(s) == 9 and "m-fast" not in set(s["model"])
    small = s[(s["model"] == "m-small") & (s["device"] == "cpu")].iloc[0]
    assert small["n_runs"] == 2
    assert small["latency_per_utt_s"] == pytest.approx(0.30)
    assert small["rtf"] == pytest.approx(0.06)
    assert small["energy_per_audio_s_j"] == pytest.approx(2.0)
    assert small["energy_per_utt_j"] == pytest.approx(10.0)
    assert small["wer"] == pytest.approx(0.12)
    assert small["peak_memory_bytes"] == 600 * MIB  # the worst run, from RSS on the CPU
    big_gpu = s[(s["model"] == "m-big") & (s["device"] == "cuda") & (s["bucket"] == "5s")].iloc[0]
    assert big_gpu["peak_memory_bytes"] == 3000 * MIB  # GPU reserved, not the 400 MiB RSS
    assert math.isnan(s[s["model"] == "m-tiny"].iloc[0]["wer"])


def test_summarise_joins_mixed_energy_sources():
    rows = [run("m", "cpu", "5s", lat=1, rtf=1, wer=0.1, energy=1, mem_mib=1, source=src) for src in
            ("rapl", "estimate", "rapl")]
    s = summarise(pd.DataFrame(rows))
    assert s["energy_source"].tolist() == ["estimate, rapl"]


def test_summarise_no_ok_rows_gives_empty_frame(df):
    assert summarise(df[df["status"] != "ok"]).empty


def test_short_voice_commands_picks_fastest_cpu_row(df):
    rec = recommend(df, SHORT_COMMANDS)
    assert picked(rec) == ("m-small", "cpu", "5s", 1)
    assert set(rec.candidates["model"]) == {"m-small", "m-mid"}  # m-big takes 1.5 s; m-fast failed
    assert "latency per utterance 0.3 s" in rec.reason and "rapl" in rec.reason
    assert rec.caveats == []


def test_live_captions_breaks_wer_tie_on_latency(df):
    rec = recommend(df, LIVE_CAPTIONS)
    assert picked(rec) == ("m-big", "cuda", "5s", 1)  # same WER as m-big on the CPU, 0.2 s against 1.5 s
    assert "m-huge" not in set(rec.candidates["model"])  # best WER but RTF 0.8 > 0.5
    assert rec.pareto["model"].tolist() == ["m-big"] and rec.pareto.iloc[0]["device"] == "cuda"
    assert "WER 6.0 %" in rec.reason and "RTF ≤ 0.5" in rec.reason
    assert rec.caveats == []


def test_live_captions_on_cpu(df):
    rec = recommend(df, LIVE_CAPTIONS, device="cpu")
    assert picked(rec) == ("m-big", "cpu", "5s", 1)
    # WER vs latency: each of these trades one for the other; the synthetic row has no WER
    assert sorted(rec.pareto["model"]) == ["m-big", "m-mid", "m-small"]
    # issue 21: only rows with a WER from the source rank; the unscored row is listed apart (it ranked last before)
    assert len(rec.candidates) == 3 and rec.unranked["model"].tolist() == ["m-tiny"]
    assert rec.unranked_note == "Not ranked (no WER from the source, measured here): m-tiny (1 configuration)."


def test_offline_lectures_breaks_wer_tie_on_energy(df):
    rec = recommend(df, OFFLINE_LECTURES)
    assert picked(rec) == ("m-big", "cuda", "30s", 8)
    assert rec.pick["energy_per_audio_s_j"] == pytest.approx(0.3)
    assert "lowest WER, then lowest energy per audio second" in rec.reason


def test_edge_devices_picks_least_energy_within_memory(df):
    rec = recommend(df, EDGE_DEVICES)
    assert picked(rec) == ("m-small", "cpu", "5s", 1)
    assert set(rec.candidates["model"]) == {"m-small", "m-mid"}  # m-tiny needs 1.5 GiB, m-big 9 J
    assert "energy per audio second 2 J" in rec.reason and "peak memory 600 MiB" in rec.reason


def test_use_case_device_overrides_chosen_device(df):
    rec = recommend(df, EDGE_DEVICES, device="cuda")
    assert rec.pick["device"] == "cpu"
    assert rec.caveats == ["Edge devices runs on cpu, so the chosen device cuda was set aside."]


def test_custom_use_case_constraints_filter(df):
    custom = UseCase("Custom", buckets=("30s",), max_peak_memory_bytes=4000 * MIB, objective="energy")
    rec = recommend(df, custom)
    assert picked(rec) == ("m-small", "cuda", "30s", 8)
    assert len(rec.candidates) == 2  # the 5000 MiB batch-8 m-big row is over the memory cap
    rec = recommend(df, UseCase("Custom", device="cuda", max_rtf=0.01))
    assert picked(rec) == ("m-big", "cuda", "30s", 8)  # lowest WER, then latency, among RTF ≤ 0.01


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="Unknown objective 'speed'"):
        UseCase("Bad", objective="speed")


def test_synthetic_weights_fall_back_to_cost(df):
    synthetic = df.assign(weights="synthetic", wer=math.nan)
    rec = recommend(synthetic, LIVE_CAPTIONS, device="cpu")
    assert picked(rec) == ("m-tiny", "cpu", "15s", 1)  # ranked by latency: 0.1 s
    assert rec.pareto.empty
    assert "No candidate has a WER figure, so the pick is ranked by the lowest latency per utterance instead." \
        in rec.caveats
    assert any(c.startswith("WER needs pretrained weights; these rows were timed with synthetic weights")
               for c in rec.caveats)
    assert "WER unknown" in rec.reason


def test_no_rows_for_the_device_says_so(df):
    rec = recommend(df[df["device"] == "cuda"], SHORT_COMMANDS)
    assert rec.pick is None and rec.candidates.empty
    assert rec.caveats[0].startswith("No results for device cpu, 5s clips, batch size 1: "
                                     "the results cover devices cuda; clip buckets 30s, 5s; batch sizes 1, 8")
    assert rec.reason.startswith("Nothing to recommend.")


def test_no_row_meets_constraints_names_the_closest(df):
    tight = UseCase("Tight", device="cpu", buckets=("5s",), batch_sizes=(1,), max_latency_per_utt_s=0.2,
                    max_peak_memory_bytes=512 * MIB)
    rec = recommend(df, tight)
    assert rec.pick is None
    assert rec.caveats == [
        "No configuration for device cpu, 5s clips, batch size 1 meets the constraints; the closest is "
        "m-small (transformers, pretrained weights, cpu fp32, batch 1, 5s clips), with latency per utterance "
        "0.3 s (limit 0.2 s) and peak memory 600 MiB (limit 512 MiB)."]


def test_estimated_energy_is_flagged(df):
    estimated = df.assign(energy_source=df["energy_source"].where(df["model"] != "m-small", "estimate"))
    rec = recommend(estimated, EDGE_DEVICES)
    assert picked(rec) == ("m-small", "cpu", "5s", 1)
    assert "energy source: estimate" in rec.reason
    assert rec.caveats == [
        "The pick's energy is an estimate (modelled), not a measurement.",
        "Candidates mix measured and estimated energy, so the energy ranking compares unlike figures."]


def test_presets_are_listed_by_name():
    assert list(USE_CASES) == ["Short voice commands", "Live captions", "Offline lectures", "Edge devices"]
    assert EDGE_DEVICES.limits() == {"model_bytes": 1024**3, "energy_per_audio_s_j": 5.0}
    assert "model memory (weights) ≤ 1 GiB" in recommend(pd.DataFrame(ROWS), EDGE_DEVICES).reason


# --- accuracy from a published table, cost measured ---------------------------------------------------

def shipped():
    from asr_core import published
    from helpers import ROOT
    return pd.read_parquet(ROOT / "precomputed" / "cpu.parquet"), published.load()


def test_model_memory_comes_from_the_registry_when_rows_lack_it():
    data, _ = shipped()
    s = summarise(data)
    row = lambda m, p="fp32": s[(s["model"] == m) & (s["precision"] == p)].iloc[0]["model_bytes"]
    assert row("openai/whisper-medium") == 769e6 * 4 and row("openai/whisper-small") == 244e6 * 4
    assert row("../shared/models/whisper-tiny.en", "int8") == 39e6  # the local folder is tiny.en: 39 M params
    edge = recommend(data, EDGE_DEVICES)
    assert "openai/whisper-medium" not in set(edge.candidates["model"])  # 3.1 GB of weights > 1 GiB
    assert edge.pick["model_bytes"] <= 1024**3


def test_the_default_ranking_uses_one_published_source_and_shows_measured_beside():
    """Issue 21: tiny.en's WER measured on a few clips no longer ranks against others' published figures."""
    data, table = shipped()
    rec = recommend(data, LIVE_CAPTIONS, table=table)  # accuracy left to its default
    assert rec.accuracy == Accuracy("LibriSpeech test-clean", published.PAPER)
    assert (rec.candidates["wer_kind"] == "published").all()
    assert rec.candidates["wer_source"].str.contains("Radford et al. 2022").all()
    assert rec.pick["model"] == "openai/whisper-base" and rec.pick["wer"] == pytest.approx(0.05)
    tiny_en = rec.candidates[rec.candidates["model"] == "../shared/models/whisper-tiny.en"]
    assert len(tiny_en) and tiny_en["wer"].tolist() == pytest.approx([0.056] * len(tiny_en))  # its published figure ranks ...
    assert tiny_en["measured_wer"].min() < 0.05  # ... its 2.4 % measured on a few clips is beside, out of the ranking
    assert set(rec.unranked["model"]) == {"facebook/wav2vec2-base-960h"}  # no figure in the paper: listed apart


def test_published_accuracy_picks_a_larger_model_for_offline_lectures():
    data, table = shipped()
    assert recommend(data, OFFLINE_LECTURES).pick["model"] == "../shared/models/whisper-tiny.en"  # the only WER
    leaderboard = Accuracy("LibriSpeech test-clean", published.LEADERBOARD)
    rec = recommend(data, OFFLINE_LECTURES, accuracy=leaderboard, table=table)
    assert rec.pick["model"] == "openai/whisper-large-v3-turbo"
    assert rec.pick["wer"] == pytest.approx(0.021) and rec.pick["wer_kind"] == "published"
    assert "Cost: measured on AMD EPYC (cpu); accuracy: published LibriSpeech test-clean WER of " \
           "openai/whisper-large-v3-turbo (Hugging Face Open ASR Leaderboard" in rec.reason
    # issue 21: one source ranks; the checkpoints it has no figure for are listed apart, not ranked (all were before)
    assert set(rec.candidates["model"]) == {"openai/whisper-large-v3-turbo", "facebook/wav2vec2-base-960h",
                                            "../shared/models/whisper-tiny.en"}
    assert rec.candidates["wer"].notna().all()
    assert {"openai/whisper-tiny", "openai/whisper-medium"} <= set(rec.unranked["model"])
    assert recommend(data, OFFLINE_LECTURES, table=table).pick["model"] == "openai/whisper-medium"  # the paper's best


def test_live_captions_picks_base_on_published_librispeech():
    data, table = shipped()
    rec = recommend(data, LIVE_CAPTIONS, accuracy=Accuracy("LibriSpeech test-clean", published.PAPER), table=table)
    assert rec.pick["model"] == "openai/whisper-base" and rec.pick["wer"] == pytest.approx(0.05)
    assert "Radford et al. 2022" in rec.reason  # the paper's figure, named


def test_measured_ranks_only_measured_rows():
    data, table = shipped()
    rec = recommend(data, LIVE_CAPTIONS, accuracy=MEASURED_ONLY, table=table)
    assert (rec.candidates["wer_kind"] == "measured").all() and rec.candidates["wer"].notna().all()
    assert rec.candidates["published_wer"].isna().all()  # nothing published ranks or is mixed in
    assert set(rec.unranked["weights"]) == {"synthetic"}


# --- ties within the uncertainty, broken by cost --------------------------------------------------------

def test_measured_wers_within_their_interval_tie_and_cost_decides():
    few = [run("m-slow", "cpu", "5s", lat=0.8, rtf=0.2, wer=0.08, energy=2, mem_mib=500, words=60),
           run("m-fast", "cpu", "5s", lat=0.2, rtf=0.05, wer=0.10, energy=1, mem_mib=500, words=60)]
    rec = recommend(pd.DataFrame(few), LIVE_CAPTIONS, accuracy=MEASURED_ONLY)
    assert rec.pick["model"] == "m-fast"  # 8 % and 10 % of 60 words: within each other's interval
    assert rec.candidates["wer_tier"].tolist() == [0, 0]
    assert rec.candidates["reference_words"].tolist() == [60, 60]
    assert "95 % intervals overlap (Wilson score intervals on word errors out of the reference words) count as a " \
           "tie, broken by the lowest latency per utterance" in rec.reason
    many = [{**row, "references": ["the cat sat on the mat " * 4000]} for row in few]  # 24,000 words each
    assert recommend(pd.DataFrame(many), LIVE_CAPTIONS, accuracy=MEASURED_ONLY).pick["model"] == "m-slow"


def tiny_en_table():
    rows = [dict(model=m, checkpoint=m, dataset="LibriSpeech", split="test-clean", wer_pct=w, rtfx="",
                 normaliser="Whisper English normaliser", decoding="greedy", source="Radford et al. 2022", note="")
            for m, w in (("openai/whisper-tiny.en", "5.6"), ("openai/whisper-base", "5.0"))]
    return published.validate(pd.DataFrame(rows))


def q5_1_and_fp32():
    """tiny.en on whisper.cpp at q5_1 measured one word better than at fp32 on ~100 words, and slower."""
    return pd.DataFrame([
        run("openai/whisper-tiny.en", "cpu", "5s", lat=0.49, rtf=0.10, wer=0.029, energy=8.7, mem_mib=400,
            precision="q5_1", runtime="whisper.cpp", words=102),
        run("openai/whisper-tiny.en", "cpu", "5s", lat=0.47, rtf=0.094, wer=0.039, energy=8.5, mem_mib=700,
            words=102)])


@pytest.mark.parametrize("accuracy", [None, MEASURED_ONLY])
def test_q5_1_and_fp32_of_one_checkpoint_are_never_ranked_apart_on_accuracy(accuracy):
    rec = recommend(q5_1_and_fp32(), LIVE_CAPTIONS, accuracy=accuracy, table=tiny_en_table())
    assert rec.candidates["wer_tier"].nunique() == 1  # one checkpoint's accuracy: a tie
    assert rec.pick["precision"] == "fp32"  # the faster run: cost decided, not a word more or less
    if accuracy is None:
        assert rec.candidates["wer"].tolist() == pytest.approx([0.056, 0.056])  # tiny.en's published figure for both
        assert "published WER holds for every runtime and precision it runs with, so those count as a tie" in rec.reason


def test_the_sentence_a_class_reads_first():
    rows = pd.DataFrame([
        run("openai/whisper-base", "cpu", "5s", lat=1.19, rtf=0.25, wer=0.04, energy=19.9, mem_mib=1200,
            source="estimate", words=90),
        *q5_1_and_fp32().to_dict("records")])
    rec = recommend(rows, LIVE_CAPTIONS, table=tiny_en_table())
    assert rec.headline == ("Live captions on a CPU: whisper-base — 4× faster than real time, 20 Wh per hour of audio "
                            "(estimated), WER 5.0 % (published, LibriSpeech test-clean)")
    assert not [j for j in ("RTF", "q5_1", "fp32", "Pareto", "5s", "transformers", "batch") if j in rec.headline]
    assert all(j in rec.reason for j in ("RTF 0.25", "cpu fp32", "transformers", "batch 1", "5s clips"))  # details
    measured = recommend(rows, LIVE_CAPTIONS, accuracy=MEASURED_ONLY)
    assert measured.headline == ("Live captions on a CPU: whisper-tiny.en — 11× faster than real time, 8.5 Wh per "
                                 "hour of audio, WER 3.9 % (measured here on 102 words)")
    nothing = recommend(rows, dataclasses.replace(LIVE_CAPTIONS, max_rtf=0.01))
    assert nothing.pick is None and nothing.headline.startswith("Nothing to recommend.")


@pytest.mark.parametrize("rtf, words", [(0.25, "4× faster than real time"), (0.0269, "37× faster than real time"),
                                        (1.04, "about as fast as real time"), (0.95, "about as fast as real time"),
                                        (2.0, "2× slower than real time"), (math.nan, "")])
def test_pace_in_words(rtf, words):
    assert pace(rtf) == words


def test_memory_must_be_peak_or_model():
    with pytest.raises(ValueError, match="Unknown memory 'disk'"):
        UseCase("Bad", memory="disk")


# --- projected candidates: a GPU nobody measured, answered from the cost model ------------------------------

def _projected(hardware=("T4",), models=("openai/whisper-tiny", "openai/whisper-base")):
    from asr_core import costmodel
    from asr_core.recommend import projected_cells
    grid = costmodel.project_grid(models, hardware, ["fp16"], [1, 8], ["5s", "30s"])
    return projected_cells(grid)


def test_projected_cells_rank_like_sweep_rows_and_say_projected_everywhere():
    cells = _projected()
    assert set(cells["energy_source"]) == {"projected"} and set(cells["device"]) == {"T4"}
    rec = recommend(cells, OFFLINE_LECTURES, device="T4", table=tiny_en_table())
    assert rec.pick["model"] == "openai/whisper-base"  # the lower published WER: ranked on one source
    assert rec.headline.startswith("Offline lectures on the NVIDIA T4 (projected): whisper-base — ")
    assert "Wh per hour of audio (projected)" in rec.headline
    assert "Cost: projected by the cost model" in rec.reason and "measured on" not in rec.reason
    assert "The pick's time and energy are projected by the cost model, not measured." in rec.caveats


def test_measured_and_projected_are_ranked_together_only_when_asked():
    measured = pd.DataFrame([run("openai/whisper-base", "cpu", "30s", lat=8.0, rtf=0.25, wer=0.04, energy=20.0,
                                 mem_mib=1200, source="estimate")])
    both = pd.concat([measured, _projected()], ignore_index=True)
    with pytest.raises(ValueError, match="mix_kinds=True"):
        recommend(both, OFFLINE_LECTURES, table=tiny_en_table())
    rec = recommend(both, OFFLINE_LECTURES, table=tiny_en_table(), mix_kinds=True)
    assert set(rec.candidates["device"]) == {"cpu", "T4"}
    assert any(c.startswith("The candidates mix costs measured here with costs projected") for c in rec.caveats)
    alone = recommend(measured, OFFLINE_LECTURES, table=tiny_en_table())
    assert not any("projected" in c for c in alone.caveats)


def test_the_sentence_gives_the_hour_in_watt_hours_and_money():
    from asr_core import hourly, prices
    kwh = prices.Price(0.3, "EUR", "kWh", "typed", "typed", "typed")
    rows = pd.DataFrame([run("openai/whisper-base", "cpu", "5s", lat=1.19, rtf=0.25, wer=0.04, energy=20.0,
                             mem_mib=1200, source="estimate")])
    rec = recommend(rows, LIVE_CAPTIONS, table=tiny_en_table(), costs=hourly.CostSettings(electricity=kwh))
    assert "4× faster than real time, 20 Wh and €0.0060 per hour of audio (estimated), WER 5.0 %" in rec.headline
