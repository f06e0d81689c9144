"""`asr-profile`: transcribe and measure, prefetch models and clips, run sweeps."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Sequence

from .audio import MAX_DURATION_S_DEFAULT, AudioError, load_audio
from .clips import ClipSourceError
from .models import DEVICES, PRECISIONS, REGISTRY, RUNTIMES, TRANSFORMERS, WEIGHTS, ModelError
from .results import Result
from .runners import ResourceError, RunOptions

EXIT_USER_ERROR = 2
USER_ERRORS: tuple[type[BaseException], ...] = (AudioError, ModelError, ResourceError, ClipSourceError,
                                               FileNotFoundError)


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--precision", default="fp32", choices=list(PRECISIONS),
                   help="int8 and int8_fp16 (int8 weights, fp16 compute) need --runtime ctranslate2")
    p.add_argument("--weights", default="pretrained", choices=WEIGHTS,
                   help="synthetic: random weights of the same architecture, no download, no WER")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up batch")
    p.add_argument("--no-flops", action="store_true", help="skip FLOP counting (done in the warm-up batch)")
    p.add_argument("--co2e", metavar="COUNTRY", help="also report kg CO2e for this ISO country code (e.g. USA)")


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
                        "torch.compile; ctranslate2: CTranslate2 (Whisper only)")
    _add_run_args(t)

    sub.add_parser("models", help="list the model registry")

    from . import sweep
    sweep.add_cli(sub, _add_run_args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_libraries()
    try:
        return args.func(args) if hasattr(args, "func") else _COMMANDS[args.command](args)
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
    refs = list(args.reference or [])
    for path in args.reference_file or []:
        if not path.is_file():
            raise FileNotFoundError(f"Reference file '{path}' does not exist: check the path.")
        refs.append(path.read_text(encoding="utf-8").strip())
    if refs and len(refs) != len(args.audio):
        raise AudioError(f"Got {len(refs)} references for {len(args.audio)} audio files: give one per file.")
    return refs or None


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .models import load_model
    from .runners import transcribe
    if args.batch_size < 1:
        raise ModelError("--batch-size must be at least 1.")
    clips = [load_audio(p, args.max_duration) for p in args.audio]
    refs = _references(args)
    if len(clips) < args.batch_size:  # one batch of the asked size: repeat the clips
        reps = [i % len(clips) for i in range(args.batch_size)]
        clips, refs = [clips[i] for i in reps], ([refs[i] for i in reps] if refs else None)
    lm = load_model(args.model, args.device, args.precision, args.weights, args.runtime)
    opts = RunOptions(batch_size=args.batch_size, tokens=args.tokens, warmup=not args.no_warmup,
                      count_flops=not args.no_flops, co2e_country=args.co2e)
    result = transcribe(lm, clips, refs, opts)
    print(result.to_json() if args.json else report(result))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    for spec in REGISTRY.values():
        print(f"{spec.model_id:34s} {spec.family:8s} {spec.params_m:6.0f} M params")
    return 0


_COMMANDS = {"transcribe": cmd_transcribe, "models": cmd_models}


def _fmt(x: float, unit: str, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g} {unit}"


def report(r: Result) -> str:
    """A readable report of one result."""
    lines = [f"{r.model}  [{r.family}, weights={r.weights}, {r.runtime}, {r.device} {r.precision}, "
             f"batch {r.batch_size}]",
             f"clips: {r.n_clips} ({r.audio_s:.1f} s of audio) in {r.n_batches} batch(es)"]
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
