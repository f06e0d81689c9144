"""The cost model (asr_core.costmodel, with archflops, hardware_table and costfit): analytic FLOPs against the FLOPs
counted in precomputed/cpu.parquet, roofline behaviour, labels, the hardware table, the project command's refusals,
and the validation script on a hand-made published table. No timing: projections are arithmetic."""
from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pandas as pd
import pytest

from asr_core import archflops as af
from asr_core import costfit as cf
from asr_core import costmodel as cm
from asr_core import hardware_table as ht
from asr_core.cli import main
from asr_core.published import COST_COLUMNS
from asr_core.sweep_table import read
from helpers import ROOT

SWEEP = ROOT / "precomputed" / "cpu.parquet"
WHISPERS = ("openai/whisper-tiny", "openai/whisper-base", "openai/whisper-small", "openai/whisper-medium",
            "openai/whisper-large-v3-turbo")


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    return read(SWEEP)


@pytest.fixture(scope="module")
def table() -> dict[str, ht.Hardware]:
    return cm.load_hardware()


@pytest.fixture(scope="module")
def fit() -> cm.Fit:
    return cm.load_fit()


def unit_factors(**over) -> cm.Factors:
    """Peak efficiency, no overheads: the bare roofline."""
    values = dict(compute_eff=1.0, bandwidth_eff=1.0, attention_eff=1.0, layer_overhead_s=0.0, step_overhead_s=0.0,
                  preprocess_s_per_audio_s=0.0, idle_share=0.25)
    return cm.Factors(**{**values, **over}, source="test")


# --- analytic FLOPs against the counted ones -----------------------------------------------------------------------

@pytest.mark.parametrize("model", WHISPERS)
def test_whisper_encoder_flops_match_the_counted_ones(sweep, model):
    """5 s clips are one 30 s window each, so the FLOPs counted per clip are one window's."""
    rows = sweep[(sweep["model"] == model) & (sweep["bucket"] == "5s")]
    counted = rows["encoder_flops_per_clip"].dropna()
    assert len(counted)
    analytic = af.whisper_encoder(af.arch_of(model), "fp32").linear_flops
    assert np.allclose(counted, analytic, rtol=0.01)


def test_whisper_decoder_flops_per_token_match_the_counted_ones(sweep):
    """Rows counted by the current rule (forced 1- and 8-step decodes; openai-whisper's rows are all recent) give
    the per-token cost: the layers' projections and FFN plus the logits."""
    rows = sweep[(sweep["runtime"] == "openai-whisper") & sweep["decoder_flops_per_token"].notna()]
    assert len(rows)
    analytic = af.whisper_step_linear_flops(af.arch_of(rows["model"].iloc[0]))
    assert np.allclose(rows["decoder_flops_per_token"], analytic, rtol=0.01)


def test_wav2vec2_encoder_flops_match_the_counted_ones(sweep):
    """One-batch rows: the batch is padded to its longest clip, whose frames the CTC head reports."""
    rows = sweep[(sweep["model"] == "facebook/wav2vec2-base-960h") & (sweep["n_batches"] == 1)]
    assert len(rows) >= 3
    a = af.arch_of("facebook/wav2vec2-base-960h")
    for _, r in rows.iterrows():
        frames = r["decoder_steps"] / r["n_clips"]
        samples = af.ctc_samples(a, frames)
        assert af.ctc_frames(a, samples) == frames
        analytic = af.ctc_encoder(a, "fp32", samples).linear_flops
        assert r["encoder_flops_per_clip"] == pytest.approx(analytic, rel=0.02)


def test_flop_counter_agrees_on_a_small_whisper():
    """A shape not in the sweep: torch's FLOP counter on a small random Whisper encoder."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import WhisperConfig, WhisperForConditionalGeneration
    cfg = dict(model_type="whisper", d_model=64, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
               decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128, vocab_size=51865, num_mel_bins=80)
    model = WhisperForConditionalGeneration(WhisperConfig(**cfg)).eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.model.encoder(torch.zeros(1, 80, 3000))
    assert counter.get_total_flops() == pytest.approx(
        af.whisper_encoder(af.arch_from_config("small", cfg), "fp32").linear_flops, rel=0.01)


def test_a_config_json_that_is_not_whisper_or_wav2vec2_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    with pytest.raises(cm.ModelError, match="cannot project"):
        af.arch_of(str(tmp_path))


# --- roofline behaviour --------------------------------------------------------------------------------------------

def test_decoder_linear_kernels_are_memory_bound_at_batch_1_and_compute_bound_at_large_batch(table):
    """Each step reads every decoder weight whatever the batch: batch 1 waits on memory, a big batch on compute."""
    a, hw = af.arch_of("openai/whisper-small"), table["H100-SXM"]

    def compute_over_memory(rows: int) -> float:
        w = af.whisper_step(a, "fp16", rows, np.array([10.0]))
        return float(w.linear_flops[0] / hw.peak("fp16") / (w.linear_bytes[0] / hw.memory_bytes_s))

    assert compute_over_memory(1) < 0.05
    assert compute_over_memory(1024) > 1.0


def test_batching_pays_per_row(table):
    """Decoder seconds per row fall as the batch grows (the weights are read once per step for all rows)."""
    a, hw, f = af.arch_of("openai/whisper-small"), table["T4"], unit_factors()
    per_row = [cm.stage_times(a, hw, "fp16", f, [cm.Batch(b, 30.0, 100)])["decoder"].seconds / b for b in (1, 8, 64)]
    assert per_row[0] > 3 * per_row[1] > 3 * per_row[2] / 3
    assert cm.stage_times(a, hw, "fp16", f, [cm.Batch(1, 30.0, 100)])["decoder"].bound == "memory"


def test_a_slower_device_takes_longer(fit, table):
    fast = cm.project("openai/whisper-small", "H100-SXM", "fp16", 8, "30s", fit=fit, table=table)
    slow = cm.project("openai/whisper-small", "T4", "fp16", 8, "30s", fit=fit, table=table)
    assert slow.encoder_s > 10 * fast.encoder_s and slow.latency_s > fast.latency_s


def test_overhead_dominates_tiny_at_batch_1_on_a_gpu(fit, table):
    """Why a GPU barely helps whisper-tiny at batch 1: its decoder waits on per-step overheads, not the GPU."""
    p = cm.project("openai/whisper-tiny", "H100-SXM", "fp16", 1, "30s", fit=fit, table=table)
    assert p.decoder_bound == "overhead"


def test_bf16_on_a_t4_is_refused_in_one_sentence(table):
    with pytest.raises(cm.ProjectionError) as exc:
        cm.check_request("openai/whisper-tiny", "T4", "bf16", 1, "30s", "transformers", table)
    assert "no bf16 support" in str(exc.value) and str(exc.value).count(". ") == 0


def test_a_precision_no_source_gives_is_refused(table):
    with pytest.raises(cm.ProjectionError, match="no fp16 peak"):
        cm.check_request("openai/whisper-tiny", "A10G", "fp16", 1, "30s", "transformers", table)


def test_a_unique_prefix_names_a_device(table):
    assert cm.find_hardware("h100", table).hardware_id == "H100-SXM"


# --- labels --------------------------------------------------------------------------------------------------------

def test_every_figure_is_labelled_projected(fit, table):
    p = cm.project("openai/whisper-base", "L4", "fp16", 4, "15s", fit=fit, table=table)
    assert p.kind == cm.PROJECTED and p.to_dict()["kind"] == "projected"
    figures = [line for line in cm.describe(p).splitlines() if line.strip().startswith(("pre", "enc", "dec", "CTC",
                                                                                        "total", "energy"))]
    assert len(figures) == 6 and all("projected" in line for line in figures)
    assert p.power_source.startswith("projected")
    assert p.latency_s == pytest.approx(p.preprocess_s + p.encoder_s + p.decoder_s)
    assert p.energy_per_audio_s_j == pytest.approx(p.energy_j / p.audio_s)


def test_a_grid_keeps_refusals_as_rows(fit, table):
    grid = cm.project_grid(["openai/whisper-tiny"], ["T4", "L4"], ["fp16", "bf16"], fit=fit, table=table)
    assert len(grid) == 4 and set(grid["kind"]) == {"projected"}
    refused = grid[grid["refused"] != ""]
    assert list(zip(refused["hardware_id"], refused["precision"])) == [("T4", "bf16")]


def test_energy_is_time_times_the_power_model(table):
    a, hw, f = af.arch_of("openai/whisper-tiny"), table["T4"], unit_factors(idle_share=0.5)
    stages = cm.stage_times(a, hw, "fp16", f, [cm.Batch(1, 30.0, 50)])
    seconds = sum(s.seconds for s in stages.values())
    busy = sum(s.busy_s for s in stages.values() if not s.host)
    assert cm.energy(stages, hw, f) == pytest.approx(35 * seconds + busy * 35)


# --- the hardware table --------------------------------------------------------------------------------------------

def test_the_hardware_table_validates_and_cites_every_row(table):
    raw = pd.read_csv(cm.HARDWARE_CSV, dtype=str, keep_default_na=False)
    assert ht.check_hardware(raw) == []
    assert {"T4", "L4", "A10G", "A100-80GB", "H100-SXM", "RTX-4090", "Jetson-Orin-Nano", "this-cpu"} <= set(table)
    assert all(h.source for h in table.values())
    assert table["T4"].lacks == ("bf16", "tf32") and "bf16" not in table["T4"].peak_flops


def test_a_bad_hardware_row_is_named(tmp_path):
    raw = pd.read_csv(cm.HARDWARE_CSV, dtype=str, keep_default_na=False)
    raw.loc[0, "fp32_tflops"], raw.loc[1, "source_title"], raw.loc[2, "memory_gb_s"] = "-3", "", ""
    raw.loc[3, "lacks"] = "fp32"
    problems = ht.check_hardware(raw, "hw.csv")
    assert len(problems) == 4 and problems[0].startswith("hw.csv line 2 (T4): fp32_tflops")


def test_the_cpu_microbenchmark_writes_a_provisional_row(tmp_path):
    roofline = _script("cpu_roofline")
    out = tmp_path / "hardware.csv"
    out.write_text(cm.HARDWARE_CSV.read_text())
    row = roofline.write_row({"fp32": 1e11, "copy": 1e10, "triad": 2e10}, True, "python x --quick", out)
    table = cm.load_hardware(out)
    assert table["this-cpu"].provisional and table["this-cpu"].peak_flops == {"fp32": 1e11}
    assert table["this-cpu"].memory_bytes_s == 2e10 and row["read_in"] == "python x --quick"


# --- the project command -------------------------------------------------------------------------------------------

def _run(capsys, *args):
    code = main(["project", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("args, says", [
    (["--hardware", "B200"], "Unknown hardware 'B200': use one of T4, L4"),
    (["--hardware", "T4", "--precision", "bf16"], "no bf16 support"),
    (["--hardware", "T4", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["--hardware", "T4", "--bucket", "45s"], "Unknown bucket '45s'"),
])
def test_project_refuses_bad_input_in_one_sentence(capsys, args, says):
    code, out, err = _run(capsys, "--model", "openai/whisper-tiny", *args)
    assert code == 2 and not out and says in err and len(err.strip().splitlines()) == 1


def test_project_refuses_a_config_that_is_not_whisper(capsys, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    code, _, err = _run(capsys, "--model", str(tmp_path), "--hardware", "T4")
    assert code == 2 and "model_type 'bert'" in err and len(err.strip().splitlines()) == 1


def test_project_prints_stages_energy_bounds_and_the_validation_error(capsys):
    code, out, _ = _run(capsys, "--model", "openai/whisper-small", "--hardware", "H100-SXM", "--batch-size", "8",
                        "--bucket", "30s", "--precision", "fp16")
    assert code == 0 and "PROJECTED" in out and "-bound" in out and "validation error seen" in out
    code, out, _ = _run(capsys, "--model", "openai/whisper-small", "--hardware", "H100-SXM", "--json")
    rec = json.loads(out)
    assert rec["kind"] == "projected" and rec["encoder_bound"] in ("compute", "memory", "overhead")


# --- fitting and validation ----------------------------------------------------------------------------------------

def test_cells_rebuild_the_batches_the_sweep_ran(sweep):
    cells = cf.sweep_cells(sweep)
    for _, row in cells[cells["weights"] == "synthetic"].iterrows():
        batches = cf.cell_batches(row, af.arch_of(row["model"]))
        assert len(batches) == row["n_batches"]


def test_the_speech_rate_is_greedy_decodings_own(sweep):
    steps, pad = cf.speech_rate(sweep)
    assert 2 < steps < 5 and 0 < pad < 1


def test_the_shipped_fit_predicts_held_out_models_within_the_aim(sweep, table, fit):
    """The validation the README reports, recomputed from the shipped fit: held-out median <= 25 % end to end."""
    cells = cf.sweep_cells(sweep)
    cells = cells[(cells["weights"] == "synthetic") & (cells["precision"] == "fp32")]
    summary = cf.error_summary(cf.compare_cells(cells, table["this-cpu"], fit.factors["cpu/transformers"]))
    assert summary.set_index("stage").loc["total", "median_abs_error"] <= 0.25


def test_the_projected_gpu_speedup_grows_with_model_size(fit, table):
    speedups = [cm.project(m, "this-cpu", "fp32", fit=fit, table=table).latency_s
                / cm.project(m, "T4", "fp16", fit=fit, table=table).latency_s for m in WHISPERS[:4]]
    assert speedups == sorted(speedups)


def test_published_rows_become_requests():
    row = pd.Series({"model": "openai/whisper-base", "engine": "whisperx (faster-whisper / CTranslate2)",
                     "precision": "int8", "batch_size": pd.NA, "decoding": "beam 5", "hardware_id": "Jetson-Orin-Nano",
                     "clip_s": 4.7, "metric": "energy_j", "per": "70 utterances of LibriSpeech (328.3 s of audio)",
                     "note": "so this is a lower bound on the engine's own rtfx"})
    req = cf.published_request(row)
    assert (req.runtime, req.n_clips, req.beam, req.batch_size, req.bound) == ("ctranslate2", 70, 5, 1, True)
    with pytest.raises(cm.ProjectionError, match="no clip length"):
        cf.published_request(row.copy().set_axis(row.index).replace({4.7: np.nan}))


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_validation_script_runs_on_a_hand_made_published_table(tmp_path, capsys):
    base = dict(engine="whisper.cpp", precision="fp16", batch_size="1", decoding="greedy", hardware="V100",
                hardware_id="V100", dataset="bench", clip_s="30", metric="latency_s",
                per="encoder pass (one 30 s window)", source_title="hand-made", source_date="2026-01-01",
                source_where="test", source_url="https://example.org", note="")
    rows = [dict(base, model="openai/whisper-tiny", value="0.004", use="fit"),
            dict(base, model="openai/whisper-small", value="0.019", use="validate"),
            dict(base, model="openai/whisper-small", value="0.0024", use="validate", per="decoder step (1 token)",
                 clip_s="")]
    published = tmp_path / "published.csv"
    pd.DataFrame(rows, columns=list(COST_COLUMNS)).to_csv(published, index=False)
    fit_out = tmp_path / "fit.json"
    assert _script("validate_costmodel").main(["--published", str(published), "--json", "--write-fit",
                                               "--fit-out", str(fit_out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "projected" and len(report["published"]) == 2
    assert all(0.2 < r["ratio"] < 5 for r in report["published"])
    stored = cm.load_fit(fit_out)
    assert {"cpu/transformers", "gpu/whisper.cpp"} <= set(stored.factors) and "gpu/whisper.cpp" in stored.validation
    assert math.isfinite(stored.steps_per_audio_s)


def test_a_gpu_sweep_is_compared_against_its_own_device(table):
    validate = _script("validate_costmodel")
    gpu = pd.DataFrame({"device": ["cuda"], "gpu_name": ["NVIDIA H100 80GB HBM3"]})
    assert validate.hardware_for_sweep(gpu, table).hardware_id == "H100-SXM"
    assert validate.hardware_for_sweep(pd.DataFrame({"device": ["cpu"], "gpu_name": [""]}), table).kind == "cpu"
