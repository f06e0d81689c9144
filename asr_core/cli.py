"""`asr-profile`: transcribe and measure, list models, prefetch models and clips, run and merge sweeps.

The one command-line module: every sub-command's parser and its handler live here, dispatched one way
(``args.func``); ``sweep.py`` is the engine the ``sweep`` command drives, ``cluster.py`` runs it on Ray and
merges sweep files.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from . import cluster, costmodel, hourly, prices, runs, sweep
from .audio import MAX_DURATION_S_DEFAULT, load_audio
from .clips import PER_BUCKET, SEED, TEDLIUM, build_clip_cache, default_cache_dir
from .errors import USER_ERRORS, AudioError, ModelError
from .models import CTC, DEVICES, PRECISIONS, REGISTRY, RUNTIMES, TRANSFORMERS, WEIGHTS, batch_problem, family_of
from .noise import CLEAN, NOISE_KINDS, WHITE
from .results import Result
from .runtimes import load_model
from .sweep_table import HOST, SUFFIXES, write_atomic

EXIT_USER_ERROR = 2
EXIT_RUNS_FAILED = 1  # every run of a sweep failed: the input was fine, the runs were not


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr-profile", description="Measure what speech recognition costs.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("transcribe", help="transcribe audio files and report time, energy, memory, FLOPs, WER")
    t.add_argument("audio", nargs="+", help="audio files (wav, flac, mp3, ogg, m4a)")
    t.add_argument("--model", default="openai/whisper-tiny", help="registry id, hub id or local folder")
    t.add_argument("--batch-size", type=int, default=1,
                   help="clips per batch; fewer files than this are repeated to fill one batch")
    t.add_argument("--reference", action="append", help="reference transcript (once per file)")
    t.add_argument("--reference-file", action="append", type=Path, help="text file with the reference (per file)")
    t.add_argument("--tokens", type=int, help="synthetic Whisper: new tokens to force per clip")
    t.add_argument("--max-duration", type=float, default=MAX_DURATION_S_DEFAULT, help="seconds (default 600)")
    t.add_argument("--json", action="store_true", help="print the full result record as JSON")
    t.add_argument("--runtime", default=TRANSFORMERS, choices=RUNTIMES,
                   help="transformers: eager generate (default); transformers-compiled: static KV cache + "
                        "torch.compile; ctranslate2: CTranslate2; openai-whisper: OpenAI's package; whisper.cpp: "
                        "whisper.cpp on the CPU, one clip at a time (the last three: Whisper only)")
    t.add_argument("--device", default="auto", choices=DEVICES)
    t.add_argument("--precision", default="fp32", choices=list(PRECISIONS),
                   help="int8 and int8_fp16 (int8 weights, fp16 compute) need --runtime ctranslate2; q8_0 and "
                        "q5_1 (ggml blocks) need --runtime whisper.cpp")
    t.add_argument("--weights", default="pretrained", choices=WEIGHTS,
                   help="synthetic: random weights of the same architecture, no download, no WER")
    t.add_argument("--no-warmup", action="store_true",
                   help="measure a cold run: no untimed warm-up batch (FLOPs are then counted after the run)")
    t.add_argument("--no-flops", action="store_true", help="skip FLOP counting")
    t.add_argument("--snr", type=float, default=CLEAN, metavar="DB",
                   help="mix noise into each clip at this signal-to-noise ratio in dB (power over the clip) "
                        "before transcribing; inf (default): no noise")
    t.add_argument("--noise", default=WHITE, choices=NOISE_KINDS,
                   help="with --snr: white noise (seeded), or babble made of the other input files (needs 2 or more)")
    _add_cost_args(t)
    t.set_defaults(func=cmd_transcribe)

    sub.add_parser("models", help="list the model registry").set_defaults(func=cmd_models)
    _add_sweep(sub)
    _add_merge(sub)
    _add_prefetch(sub)
    _add_project(sub)
    return parser


def _csv(kind: type = str):
    return lambda s: tuple(kind(x) for x in s.split(",") if x)


def _add_sweep(sub) -> None:
    s = sub.add_parser("sweep", help="run a resumable grid of measurements into a parquet file")
    s.add_argument("--config", type=Path, help="TOML file with the grid (keys as the flags, lists for axes)")
    s.add_argument("--models", type=_csv())
    s.add_argument("--devices", type=_csv())
    s.add_argument("--precisions", type=_csv())
    s.add_argument("--weights", type=_csv(), help="comma-separated: pretrained, synthetic")
    s.add_argument("--runtimes", type=_csv(), help="comma-separated: " + ", ".join(RUNTIMES))
    s.add_argument("--buckets", type=_csv())
    s.add_argument("--batch-sizes", type=_csv(int))
    s.add_argument("--snrs", type=_csv(float), help="comma-separated SNRs in dB, inf for clean audio (default: inf)")
    s.add_argument("--noise", choices=NOISE_KINDS, help="what the finite SNRs mix in (default: white)")
    s.add_argument("--clips-per-cell", type=int)
    s.add_argument("--repeats", type=int)
    s.add_argument("--clips", dest="clip_source", help="'tedlium' (default) or a local folder of audio + transcripts")
    s.add_argument("--cache-dir", help="clip cache folder (default: $ASR_CLIP_CACHE, else .clip_cache)")
    s.add_argument("--tokenizer", help="synthetic Whisper: count reference tokens with this tokenizer")
    _add_dataset_args(s)
    s.add_argument("--out", type=Path, default=Path(sweep.DEFAULT_OUT))
    s.add_argument("--csv", type=Path, help="also export the table as CSV")
    s.add_argument("--ray", nargs="?", const=cluster.LOCAL, metavar="ADDRESS",
                   help="run the cells as Ray tasks, one device each: alone, on a new local Ray instance with this "
                        "machine's GPUs and cores; with HEAD:6379, on a running cluster (needs pip install ray)")
    s.add_argument("--ray-cpus-per-task", type=int, metavar="N",
                   help="with --ray: CPUs each CPU model group holds (default: all of the largest machine's, so "
                        "two CPU measurements never share a machine)")
    _add_cost_args(s)
    s.set_defaults(func=cmd_sweep)


def _add_cost_args(p: argparse.ArgumentParser) -> None:
    """What one hour of audio costs (asr_core.hourly): the grid, the prices, batch or live."""
    g = p.add_argument_group("per hour of audio (default prices: precomputed/prices.csv, cited and dated)")
    g.add_argument("--co2e", metavar="COUNTRY", help="grams of CO2e on this country's grid (ISO alpha-3, like FRA)")
    g.add_argument("--price-kwh", metavar="PRICE|NAME", help="electricity per kWh, or a row of the table (default "
                                                            f"{prices.DEFAULT_ELECTRICITY})")
    g.add_argument("--instance", metavar="NAME", help="a cloud instance of the table, for its price per hour")
    g.add_argument("--price-hour", metavar="PRICE|PRICE/HOURS", help="the machine per hour, or its purchase price over "
                   "its lifetime in hours (1200/20000); wins over the --instance's price")
    g.add_argument("--currency", metavar="CODE", help=f"of the prices you type (default {prices.DEFAULT_CURRENCY})")
    g.add_argument("--live", action="store_true", help="live audio holds the machine the whole hour (default: batch, "
                                                      "held only while it processes)")


def _costs(args: argparse.Namespace) -> hourly.CostSettings:
    """The per-hour settings, checked (one sentence, exit 2) before any audio or model loads."""
    return hourly.settings(args.co2e, args.price_kwh, args.price_hour, args.instance, args.currency, args.live)


def _add_merge(sub) -> None:
    m = sub.add_parser("merge", help="combine sweep files from several machines into one")
    m.add_argument("inputs", nargs="+", type=Path, metavar="SWEEP",
                   help="sweep files (.parquet or .csv); the same row may come from two hosts, never twice from one")
    m.add_argument("--out", type=Path, required=True,
                   help="the merged sweep file (may be one of the inputs; any other existing file is refused)")
    m.set_defaults(func=cmd_merge)


def _add_prefetch(sub) -> None:
    p = sub.add_parser("prefetch", help="download models and build the clip cache ahead of a class")
    p.add_argument("--models", type=_csv(), default=None,
                   help="comma-separated (default: the whole registry; \"\" for none, only the clip cache)")
    p.add_argument("--clips", dest="clip_source", default=TEDLIUM)
    p.add_argument("--cache-dir", help="clip cache folder (default: $ASR_CLIP_CACHE, else .clip_cache)")
    p.add_argument("--clips-per-bucket", type=int, default=PER_BUCKET)
    _add_dataset_args(p)
    p.set_defaults(func=cmd_prefetch)


def _add_project(sub) -> None:
    p = sub.add_parser("project", help="project time and energy on other hardware with the cost model (every "
                                       "figure labelled projected, never measured)")
    p.add_argument("--model", required=True, help="registry id, or a folder with a Whisper/wav2vec2 config.json")
    p.add_argument("--hardware", required=True, help="a precomputed/hardware.csv id: T4, L4, A100-80GB, H100-SXM, ...")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--bucket", default="30s", help="clip length: 5s, 15s, 30s or 60s")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--runtime", default=TRANSFORMERS)
    p.add_argument("--json", action="store_true", help="print the projection record as JSON")
    p.set_defaults(func=cmd_project)


def cmd_project(args: argparse.Namespace) -> int:
    p = costmodel.project(args.model, args.hardware, args.precision, args.batch_size, args.bucket, args.runtime)
    print(json.dumps(p.to_dict(), indent=1) if args.json else costmodel.describe(p))
    return 0


def _add_dataset_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("TED-LIUM source (default: LIUM/tedlium, refs/convert/parquet, release3, validation)")
    g.add_argument("--dataset-id", help="hub dataset id, or 'parquet' with --dataset-files")
    g.add_argument("--dataset-revision")
    g.add_argument("--dataset-config")
    g.add_argument("--dataset-split")
    g.add_argument("--dataset-files", help="comma-separated parquet files or globs (e.g. an ESB copy of the dev set)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_libraries()
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _quiet_libraries() -> None:
    """Our report says what matters; transformers' generation deprecation chatter does not."""
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _references(args: argparse.Namespace) -> list[str] | None:
    refs = list(args.reference or []) + [_read_reference(path) for path in args.reference_file or []]
    if refs and len(refs) != len(args.audio):
        raise AudioError(f"Got {len(refs)} references for {len(args.audio)} audio files: give one per file.")
    return refs or None


def _read_reference(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8").strip()
    except FileNotFoundError:
        raise FileNotFoundError(f"Reference file '{path}' does not exist: check the path.") from None
    except IsADirectoryError:
        raise AudioError(f"Reference file '{path}' is a folder, not a text file: name the file itself.") from None
    except UnicodeDecodeError:
        raise AudioError(f"Reference file '{path}' is not UTF-8 text: save it as UTF-8.") from None
    except OSError as exc:  # a name too long for the file system, no permission, a vanished share
        raise AudioError(f"Could not read reference file '{path}' ({exc.strerror or type(exc).__name__}): check "
                         f"the path and that the file is readable.") from None


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options that cannot work, one sentence each, before any audio is decoded or model loaded."""
    if args.batch_size < 1:
        raise ModelError(f"--batch-size must be at least 1, not {args.batch_size}.")
    if why := batch_problem(args.runtime, args.batch_size):
        raise ModelError(f"Cannot run --batch-size {args.batch_size} with runtime {args.runtime}: {why}.")
    if not args.max_duration > 0:  # also refuses nan
        raise ModelError(f"--max-duration must be a positive number of seconds, not {args.max_duration:g}.")
    if args.tokens is not None:
        _check_tokens_apply(args)
    if math.isnan(args.snr) or args.snr == -math.inf:
        raise AudioError(f"--snr must be a number of dB or inf (no noise), not {args.snr:g}.")
    if args.noise == "babble" and args.snr != CLEAN and len(args.audio) < 2:
        raise AudioError("Babble noise is made of the other input files, so --noise babble needs at least 2 input "
                         "files: add more, or use --noise white.")


def _check_tokens_apply(args: argparse.Namespace) -> None:
    if args.tokens < 1:
        raise ModelError(f"--tokens must be at least 1, not {args.tokens}.")
    if args.weights != "synthetic":
        raise ModelError("--tokens only applies to synthetic Whisper (pretrained weights decode until the model "
                         "stops): add --weights synthetic, or leave out --tokens.")
    if family_of(args.model) == CTC:
        raise ModelError(f"--tokens only applies to synthetic Whisper, and {args.model} is a CTC model with no "
                         f"decoder to force: leave out --tokens.")


def cmd_transcribe(args: argparse.Namespace) -> int:
    _check_options(args)
    costs = _costs(args)
    clips = tuple(load_audio(p, args.max_duration) for p in args.audio)
    refs = _references(args)
    request = runs.Request(model=args.model, runtime=args.runtime, precision=args.precision, device=args.device,
                           weights=args.weights, batch_size=args.batch_size, clips=clips,
                           references=tuple(refs) if refs else None, snr_db=args.snr, noise=args.noise,
                           tokens=args.tokens, warmup=not args.no_warmup, count_flops=not args.no_flops,
                           co2e_country=args.co2e)
    result = runs.measure(request, load_model(*request.load_args))
    hour = hourly.from_result(result, costs)
    print(hourly.result_json(result, hour) if args.json else f"{report(result)}\n{hourly.report(hour)}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    for spec in REGISTRY.values():
        print(f"{spec.model_id:34s} {spec.family:8s} {spec.params_m:6.0f} M params")
    return 0


_GRID_FLAGS = ("models", "devices", "precisions", "weights", "runtimes", "buckets", "batch_sizes", "snrs", "noise",
               "clips_per_cell", "repeats", "clip_source", "cache_dir", "tokenizer", "dataset_id", "dataset_revision", "dataset_config",
               "dataset_split", "dataset_files")


def cmd_sweep(args: argparse.Namespace) -> int:
    costs = _costs(args)
    overrides = {k: getattr(args, k) for k in _GRID_FLAGS}
    grid = sweep.grid_from_toml(args.config, **overrides) if args.config else sweep.Grid(
        **{k: v for k, v in overrides.items() if v is not None})
    _check_sweep_files(args, grid)
    command = _command()
    if args.ray is None:
        if args.ray_cpus_per_task is not None:
            raise sweep.SweepError("--ray-cpus-per-task only applies to sweeps on Ray: add --ray, or leave it out.")
        table = sweep.run_sweep(grid, args.out, command=command)
    else:
        with cluster.on_ray(grid, args.ray, args.ray_cpus_per_task) as execute:
            table = sweep.run_sweep(grid, args.out, command=command, execute=execute)
    if args.csv:
        try:
            write_atomic(table, args.csv)
        except OSError as exc:
            raise sweep.SweepError(f"Could not write {args.csv} ({exc.strerror or exc}): the sweep itself is in "
                                   f"{args.out}; choose another --csv path.") from None
    print(f"{len(table)} rows in {args.out}")
    if per_hour := hourly.summary_lines(table, costs):
        print("\n".join(per_hour))
    if failed := sweep.all_failed(table):
        print(f"error: {failed}", file=sys.stderr)
        return EXIT_RUNS_FAILED
    return 0


def _check_sweep_files(args: argparse.Namespace, grid: sweep.Grid) -> None:
    """Refuse, before anything runs or is written, output names whose format the suffix does not say, and a grid
    whose every cell is left out (nothing would be written to --out)."""
    if args.out.suffix not in SUFFIXES:
        raise sweep.SweepError(f"--out {args.out} ends in neither .parquet nor .csv: a sweep file is written in the "
                               f"format its suffix names, so end the name in .parquet or .csv.")
    if args.csv and args.csv.suffix != ".csv":
        raise sweep.SweepError(f"--csv {args.csv} does not end in .csv: name the CSV copy *.csv.")
    if not grid.cells():
        raise sweep.SweepError(f"Every cell of this grid is left out ({'; '.join(grid.skipped())}), so nothing runs "
                               f"and {args.out} is not written: change the models, precisions, runtimes or batch "
                               f"sizes.")


def cmd_merge(args: argparse.Namespace) -> int:
    table = cluster.merge(args.inputs, args.out, command=_command())
    hosts = sorted({h for h in table.get(HOST, []) if h})
    print(f"{len(table)} rows from {len(args.inputs)} files in {args.out}; hosts: "
          f"{', '.join(hosts) or 'none recorded'}")
    return 0


def _command() -> str:
    return " ".join(["asr-profile", *sys.argv[1:]])


def cmd_prefetch(args: argparse.Namespace) -> int:
    """The clip cache first (a local folder needs no network), then each model; every failure is reported on
    its own line and the rest go on."""
    model_ids = tuple(REGISTRY) if args.models is None else args.models  # --models "" means none
    failed = [] if _prefetch_step(_prefetch_clips, args) else ["the clip cache"]
    failed += [m for m in model_ids if not _prefetch_step(_prefetch_model, m)]
    if failed:
        raise ModelError(f"Could not prefetch {', '.join(failed)}: fix what the errors above say, then run "
                         f"`asr-profile prefetch` again.")
    return 0


def _prefetch_step(step: Callable[[Any], None], arg: Any) -> bool:
    try:
        step(arg)
        return True
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return False


def _prefetch_clips(args: argparse.Namespace) -> None:
    cache = args.cache_dir or default_cache_dir()
    clips = build_clip_cache(args.clip_source, cache, per_bucket=args.clips_per_bucket, seed=SEED,
                             **sweep.dataset_kwargs(args.dataset_id, args.dataset_revision, args.dataset_config,
                                                    args.dataset_split, args.dataset_files))
    print(f"{len(clips)} clips cached in {cache}", flush=True)


def _prefetch_model(model_id: str) -> None:
    print(f"fetching {model_id} ...", flush=True)
    load_model(model_id, "cpu", "fp32", "pretrained")


def _fmt(x: float, unit: str, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g} {unit}"


def report(r: Result) -> str:
    """A readable report of one result."""
    lines = [f"{r.model}  [{r.family}, weights={r.weights}, {r.runtime}, {r.device} {r.precision}, "
             f"batch {r.batch_size}]",
             f"clips: {r.n_clips} ({r.audio_s:.1f} s of audio) in {r.n_batches} batch(es)"
             + (f", {r.noise} noise at {r.snr_db:g} dB SNR" if r.noise else "")]
    for i, hyp in enumerate(r.hypotheses[:3]):
        lines.append(f"transcript[{i}]: {hyp or '(empty)'}" if r.weights == "pretrained"
                     else f"transcript[{i}]: (synthetic weights: no meaningful text)")
    lines += [
        f"WER: {_fmt(r.wer * 100, '%')}   CER: {_fmt(r.cer * 100, '%')}",
        f"latency: {r.latency_s:.3f} s  (preprocess {r.preprocess_s:.3f} / encoder {r.encoder_s:.3f} / "
        f"{'CTC' if r.family == 'ctc' else 'decoder'} {r.decoder_s:.3f} s)",
        f"per clip: {r.latency_per_utt_s:.3f} s   RTF: {r.rtf:.3f}   throughput: "
        f"{r.throughput_audio_s_per_s:.1f} audio-s/s" + (f"   (compiled first: {r.compile_s:.1f} s, not in latency)"
                                                        if r.compile_s else ""),
        f"energy: {_fmt(r.energy_j, 'J')} [{r.energy_source}]  = GPU {_fmt(r.gpu_energy_j, 'J')} "
        f"[{r.gpu_energy_source}] + CPU {_fmt(r.cpu_energy_j, 'J')} [{r.cpu_energy_source}]",
        f"energy per audio second: {_fmt(r.energy_per_audio_s_j, 'J')}   per clip: {_fmt(r.energy_per_utt_j, 'J')}",
        f"peak memory: GPU allocated {r.peak_gpu_allocated_bytes / 2**20:.0f} MiB, reserved "
        f"{r.peak_gpu_reserved_bytes / 2**20:.0f} MiB; process RSS {r.peak_rss_bytes / 2**20:.0f} MiB",
        f"FLOPs: encoder {_fmt(r.encoder_flops_per_clip, 'per clip')}, decoder "
        f"{_fmt(r.decoder_flops_per_token, 'per token')}, total {_fmt(r.total_flops, '')}",
    ]
    if not math.isnan(r.co2e_kg):
        lines.append(f"CO2e: {r.co2e_kg * 1000:.4g} g (grid intensity estimate)")
    if r.notes:
        lines.append(f"notes: {r.notes}")
    lines.append(f"measured on: {r.cpu_name}{' + ' + r.gpu_name if r.gpu_name else ''}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
