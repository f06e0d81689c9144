"""Our pipeline per runtime against the standard ways to run the same models, on the same clips and machine.

    python benchmarks/runtimes.py --device cpu --models whisper-tiny,wav2vec2 --batch-sizes 1,8 --runs 5

For each model and batch size: Hugging Face's ``pipeline("automatic-speech-recognition")`` (the baseline),
our ``transcribe`` per runtime, and for Whisper each engine's own front door: faster-whisper's
``WhisperModel.transcribe`` (batch 1) or ``BatchedInferencePipeline`` (batch > 1), OpenAI's ``whisper.transcribe``
(batch 1) and pywhispercpp's ``Model.transcribe`` (whisper.cpp; batch 1, the only size it runs). Every system
gets one untimed warm-up call (compiling included), then --runs timed calls; the table shows the median audio
seconds per second of whole calls, the ratio to the pipeline, and our instrumentation overhead: ``transcribe``
(stage windows, syncs, energy meters) against ``uninstrumented.time_uninstrumented`` (the same stages back to back),
timed alternately. Decoding is greedy everywhere.
Synthetic weights (no real checkpoint here) decode a forced token count in every system.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from asr_core import capabilities, checkpoints, models, scoring, system
from asr_core.audio import SAMPLE_RATE, load_audio
from asr_core.measure import RunOptions, transcribe
from asr_core.uninstrumented import time_uninstrumented
from asr_core.models import (COMPILED, CT2_COMPUTE_TYPES, CTC, CTRANSLATE2, OPENAI_WHISPER, TRANSFORMERS,
                             WHISPER_CPP)
from asr_core.runtimes import ct2, load_model, whispercpp
from asr_core.runtimes.eager import whisper_languages

SHARED = Path(__file__).resolve().parents[2] / "shared"
TINY_EN = SHARED / "models" / "whisper-tiny.en"
SPEECH = SHARED / "speech" / "librispeech-dev-clean-3752-4944"
MODELS = {"whisper-tiny": "openai/whisper-tiny", "whisper-small": "openai/whisper-small",
          "whisper-large-v3-turbo": "openai/whisper-large-v3-turbo", "wav2vec2": "facebook/wav2vec2-base-960h"}
LOCAL = {"whisper-tiny": TINY_EN}  # real checkpoints on disk stand in for the hub ones
# (runtime, precision) per device; the first is also the precision of the HF pipeline baseline
OURS = {"cpu": [(TRANSFORMERS, "fp32"), (COMPILED, "fp32"), (CTRANSLATE2, "fp32"), (CTRANSLATE2, "int8"),
                (OPENAI_WHISPER, "fp32"), (WHISPER_CPP, "fp16"), (WHISPER_CPP, "q8_0"), (WHISPER_CPP, "q5_1")],
        "cuda": [(TRANSFORMERS, "fp16"), (COMPILED, "fp16"), (CTRANSLATE2, "fp16"), (CTRANSLATE2, "int8_fp16"),
                 (OPENAI_WHISPER, "fp16")]}
OVERHEAD_TARGET = 0.03
GPU_SPEEDUP_TARGET = 3.0


NOTE = ("audio-s/s: audio seconds per second of the median call. x HF pipeline: ratio of medians. Overhead and\n"
        "the targets: per round, where the systems compared ran back to back (paired), median and range.")


@dataclass
class Row:
    model: str
    weights: str
    system: str
    runtime: str
    precision: str
    batch: int
    tput: float  # audio seconds per second, median
    plain_tput: float = float("nan")  # ours without instrumentation
    wer: float = float("nan")
    compile_s: float = float("nan")
    times: list[float] = field(default_factory=list)  # seconds per timed call, in round order
    plain_times: list[float] = field(default_factory=list)

    @property
    def overheads(self) -> list[float]:
        """Instrumented over uninstrumented time minus 1, per round (the two ran back to back)."""
        return [t / p - 1 for t, p in zip(self.times, self.plain_times)]

    @property
    def overhead(self) -> float:
        return statistics.median(self.overheads) if self.plain_times else float("nan")


# --- clips -------------------------------------------------------------------------------------


def speech_clips(seconds: float, n: int) -> tuple[list[np.ndarray], list[str] | None]:
    """n clips of exactly `seconds`: whole real utterances back to back, then silence; noise without shared/."""
    length = int(seconds * SAMPLE_RATE)
    if not SPEECH.is_dir():
        rng = np.random.default_rng(0)
        return [(0.1 * rng.standard_normal(length)).astype(np.float32) for _ in range(n)], None
    lines = (SPEECH / "3752-4944.trans.txt").read_text().splitlines()
    utts = [(load_audio(SPEECH / f"{i}.flac"), text) for i, text in (ln.split(" ", 1) for ln in lines if ln.strip())]
    utts = [(a, t) for a, t in utts if a.shape[0] <= length]
    clips, refs, k = [], [], 0
    while len(clips) < n:
        audio, words = [], []
        while sum(a.shape[0] for a in audio) + utts[k % len(utts)][0].shape[0] <= length:
            audio.append(utts[k % len(utts)][0])
            words.append(utts[k % len(utts)][1])
            k += 1
        clip = np.concatenate(audio)
        clips.append(np.pad(clip, (0, length - clip.shape[0])).astype(np.float32))
        refs.append(" ".join(words))
    return clips, refs


# --- timing ------------------------------------------------------------------------------------


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fns: list[Callable[[], Any]], runs: int, device: str) -> list[list[float]]:
    """One warm-up call each, then `runs` rounds calling each in turn (alternating shares the machine's drift)."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, out in zip(fns, times):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            out.append(time.perf_counter() - t0)
    return times


# --- the systems -------------------------------------------------------------------------------
# Each system is a Contender: a call to time and a way to turn its times into a Row. All contenders of one
# model, runtime and batch size are timed in the same rounds, so their ratios share the machine's drift.


@dataclass
class Contender:
    call: Callable[[], Any]
    row: Callable[[], Row | None]  # reads the times, once every contender's are in
    times: list[float] = field(default_factory=list)


def _tput(clips: list, times: list[float]) -> float:
    """Audio seconds per second of the median call."""
    return len(clips) * clips[0].shape[0] / SAMPLE_RATE / statistics.median(times)


def ours(loaded: Any, clips: list, refs: list[str] | None, batch: int, tokens: int | None) -> list[Contender]:
    """Our transcribe (instrumented) and time_uninstrumented (the same stages, no windows or meters), after compiling."""
    opts = RunOptions(batch_size=batch, tokens=tokens, warmup=False, count_flops=False)
    first = transcribe(loaded, clips, refs, RunOptions(batch_size=batch, tokens=tokens, count_flops=False))
    results = [first]
    plain = Contender(lambda: time_uninstrumented(loaded, clips, opts, refs), lambda: None)
    instrumented = Contender(lambda: results.append(transcribe(loaded, clips, refs, opts)), lambda: Row(
        "", loaded.weights, "ours", loaded.runtime, loaded.precision, batch, _tput(clips, instrumented.times),
        _tput(clips, plain.times), results[-1].wer, first.compile_s, instrumented.times, plain.times))
    return [instrumented, plain]


def hf_pipeline(loaded: Any, tokenizer: Any, clips: list, refs: list[str] | None, batch: int,
                tokens: int | None) -> Contender:
    from transformers import pipeline
    pipe = pipeline("automatic-speech-recognition", model=loaded.model, tokenizer=tokenizer,
                    feature_extractor=loaded.feature_extractor, device=torch.device(loaded.device), dtype=loaded.dtype)
    kwargs: dict[str, Any] = {}
    if loaded.family != CTC:  # greedy like every system here: the pipeline's own default is 5 beams
        kwargs["generate_kwargs"] = {"num_beams": 1, **({"min_new_tokens": tokens, "max_new_tokens": tokens} if tokens
                                     else {"language": "en", "task": "transcribe"} if loaded.multilingual else {})}
    texts: list[str] = []

    def run() -> None:  # plain arrays at the feature extractor's rate (the pipeline empties dict inputs)
        texts[:] = [o["text"] for o in pipe(list(clips), batch_size=batch, **kwargs)]
    me = Contender(run, lambda: Row("", loaded.weights, "HF pipeline", TRANSFORMERS, loaded.precision, batch,
                                    _tput(clips, me.times), wer=_wer(loaded, refs, texts), times=me.times))
    return me


def faster_whisper(loaded: Any, clips: list, refs: list[str] | None, batch: int, tokens: int | None,
                   work: Path) -> Contender:
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    folder = ct2.ct2_folder(loaded.model_id, loaded.weights, CT2_COMPUTE_TYPES[loaded.precision])
    model = WhisperModel(str(_with_tokenizer(folder, work)), device=loaded.device,
                         compute_type=CT2_COMPUTE_TYPES[loaded.precision])
    opts: dict[str, Any] = dict(language="en", beam_size=1, temperature=0.0, without_timestamps=True,
                                condition_on_previous_text=False, vad_filter=False)
    if tokens:  # faster-whisper's max_length is prompt + max_new_tokens; CTranslate2 then stops at the forced count
        prompt = 4 if loaded.multilingual else 2
        cfg = loaded.model.config  # random weights emit timestamp tokens too, on which faster-whisper would seek and
        first_timestamp = cfg.decoder_start_token_id + whisper_languages(cfg) + 7  # decode the window again
        opts.update(max_new_tokens=ct2.ct2_max_length(tokens, prompt) - prompt,
                    suppress_tokens=[cfg.eos_token_id, *range(first_timestamp, cfg.vocab_size)])
    seconds = clips[0].shape[0] / SAMPLE_RATE
    texts: list[str] = []

    def run() -> None:
        if batch == 1:
            texts[:] = [" ".join(s.text.strip() for s in model.transcribe(c, **opts)[0]) for c in clips]
            return
        stamps = [{"start": i * seconds, "end": (i + 1) * seconds} for i in range(len(clips))]
        segments, _ = BatchedInferencePipeline(model).transcribe(np.concatenate(clips), batch_size=batch,
                                                                 clip_timestamps=stamps, **opts)
        per_clip: list[list[str]] = [[] for _ in clips]
        for s in segments:
            per_clip[min(len(clips) - 1, max(0, int(s.start // seconds)))].append(s.text.strip())
        texts[:] = [" ".join(p) for p in per_clip]
    me = Contender(run, lambda: Row("", loaded.weights, "faster-whisper", CTRANSLATE2, loaded.precision, batch,
                                    _tput(clips, me.times), wer=_wer(loaded, refs, texts), times=me.times))
    return me


def openai_reference(loaded: Any, clips: list, refs: list[str] | None, tokens: int | None) -> Contender:
    """OpenAI's whisper.transcribe per clip, on the same loaded weights: greedy, no timestamps, no fallback."""
    import whisper
    opts: dict[str, Any] = dict(language="en", temperature=0.0, condition_on_previous_text=False,
                                without_timestamps=True, fp16=loaded.precision == "fp16", verbose=None)
    if tokens:  # end-of-text suppressed and the loop stopped at the forced count, as in our runtime; random weights
        tok = whisper.tokenizer.get_tokenizer(loaded.engine.is_multilingual, num_languages=loaded.engine.num_languages)
        # emit timestamp tokens too, on which transcribe would seek and decode the window again (5 times for 30 s)
        opts.update(sample_len=tokens,
                    suppress_tokens=[-1, tok.eot, *range(tok.timestamp_begin, loaded.engine.dims.n_vocab)])
    texts: list[str] = []

    def run() -> None:
        texts[:] = [whisper.transcribe(loaded.engine, c, **opts)["text"].strip() for c in clips]
    me = Contender(run, lambda: Row("", loaded.weights, "openai-whisper", OPENAI_WHISPER, loaded.precision, 1,
                                    _tput(clips, me.times), wer=_wer(loaded, refs, texts), times=me.times))
    return me


def whispercpp_binding(loaded: Any, clips: list, refs: list[str] | None, tokens: int | None) -> Contender:
    """pywhispercpp's Model.transcribe per clip on our converted file: greedy, no timestamps, no fallback."""
    from pywhispercpp.model import Model
    path = whispercpp.ggml_path(loaded.model_id, loaded.weights, loaded.precision)
    model = Model(str(path), n_threads=torch.get_num_threads(), print_progress=False, print_realtime=False,
                  language="en", no_context=True, no_timestamps=True, single_segment=True, temperature_inc=0.0,
                  suppress_nst=True, max_tokens=whispercpp.forced_max_tokens(tokens) if tokens else 0)
    texts: list[str] = []

    def run() -> None:
        texts[:] = [" ".join(s.text.strip() for s in model.transcribe(c)) for c in clips]
    me = Contender(run, lambda: Row("", loaded.weights, "pywhispercpp", WHISPER_CPP, loaded.precision, 1,
                                    _tput(clips, me.times), wer=_wer(loaded, refs, texts), times=me.times))
    return me


def _with_tokenizer(folder: Path, work: Path) -> Path:
    """faster-whisper reads tokenizer.json beside the model; synthetic models get one naming CTranslate2's tokens."""
    if (folder / "tokenizer.json").is_file():
        return folder
    from tokenizers import Tokenizer, models as tok_models
    vocab = json.loads((folder / "vocabulary.json").read_text())
    Tokenizer(tok_models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="<|endoftext|>")).save(
        str(work / "tokenizer.json"))
    for f in folder.iterdir():
        (work / f.name).symlink_to(f)
    return work


def _wer(loaded: Any, refs: list[str] | None, texts: list[str]) -> float:
    return scoring.wer(refs, texts) if refs and loaded.weights == "pretrained" else float("nan")


# --- one model ---------------------------------------------------------------------------------


def source(name: str) -> tuple[str, str]:
    """(model id or folder, weights): a real checkpoint where one is on disk or in the cache, else synthetic."""
    if name in LOCAL and LOCAL[name].is_dir():
        return str(LOCAL[name]), "pretrained"
    model_id = MODELS[name]
    return (model_id, "pretrained") if checkpoints.pretrained_problem(model_id) is None else (model_id, "synthetic")


def bench_model(name: str, device: str, batches: list[int], runs: int, clips: list, refs: list[str] | None,
                runtimes_wanted: set[str], log: Callable[[str], None], emit: Callable[[Row], None]) -> None:
    """Every system on one model; each row goes to emit as soon as it is measured."""
    model_id, weights = source(name)
    family = models.family_of(model_id)
    tokens, tokenizer = _synthetic_tokens(model_id, family, weights, refs)
    for runtime, precision in OURS[device]:
        if not {runtime, f"{runtime}:{precision}"} & runtimes_wanted or capabilities.runtime_problem(family, runtime) \
                or capabilities.precision_problem(device, precision, runtime):
            continue
        log(f"{name}: loading for {runtime} {precision}")
        loaded = load_model(model_id, device, precision, weights, runtime)
        for batch in batches:
            if models.batch_problem(runtime, batch):
                continue
            log(f"{name}: {runtime} {precision} batch {batch}: compiling/warming up")
            contenders = ours(loaded, clips, refs, batch, tokens)
            with tempfile.TemporaryDirectory() as work:
                if runtime == TRANSFORMERS:
                    tok = loaded.tokenizer if weights == "pretrained" or family == CTC else tokenizer
                    if tok is None:
                        log(f"{name}: no tokenizer for synthetic Whisper here: HF pipeline row skipped")
                    else:
                        contenders.append(hf_pipeline(loaded, tok, clips, refs, batch, tokens))
                if runtime == CTRANSLATE2:
                    try:
                        contenders.append(faster_whisper(loaded, clips, refs, batch, tokens, Path(work)))
                    except ImportError as exc:
                        log(f"{name}: faster-whisper unavailable ({exc}): its row skipped")
                if runtime == OPENAI_WHISPER and batch == 1:
                    contenders.append(openai_reference(loaded, clips, refs, tokens))
                if runtime == WHISPER_CPP:
                    contenders.append(whispercpp_binding(loaded, clips, refs, tokens))
                log(f"{name}: {runtime} {precision} batch {batch}: timing {len(contenders)} systems x {runs} runs")
                for c, t in zip(contenders, timed([c.call for c in contenders], runs, device)):
                    c.times[:] = t
            for row in (c.row() for c in contenders):
                if row is not None:
                    emit(_named(name, row))
        del loaded
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()


def _named(name: str, row: Row) -> Row:
    row.model = name
    return row


def _synthetic_tokens(model_id: str, family: str, weights: str, refs: list[str] | None) -> tuple[int | None, Any]:
    """Synthetic Whisper: the token count to force (mean over the clips' references) and a tokenizer to decode."""
    if weights == "pretrained" or family == CTC:
        return None, None
    tokenizer = None
    if TINY_EN.is_dir():
        from transformers import WhisperTokenizerFast
        tokenizer = WhisperTokenizerFast.from_pretrained(TINY_EN)
    if not refs:
        return 100, tokenizer
    counts = [len(tokenizer(r, add_special_tokens=False).input_ids) if tokenizer else round(len(r.split()) * 1.3)
              for r in refs]
    return round(statistics.mean(counts)), tokenizer


# --- report ------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    base = {(r.model, r.batch): r.tput for r in rows if r.system == "HF pipeline"}
    out = ["| model | weights | system | runtime | precision | batch | audio-s/s | x HF pipeline | "
           "uninstrumented audio-s/s | instrumentation overhead | WER | compile s |",
           "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r.tput / base[(r.model, r.batch)] if (r.model, r.batch) in base else float("nan")
        overhead = r.overhead
        out.append(f"| {r.model} | {r.weights} | {r.system} | {r.runtime} | {r.precision} | {r.batch} | "
                   f"{r.tput:.1f} | {_f(ratio, '{:.2f}x')} | {_f(r.plain_tput, '{:.1f}')} | "
                   f"{_f(overhead * 100, '{:+.1f} %')} | {_f(r.wer * 100, '{:.1f} %')} | {_f(r.compile_s, '{:.1f}')} |")
    return "\n".join(out)


def _f(x: float, fmt: str) -> str:
    return "n/a" if x != x else fmt.format(x)


def paired_ratios(ours: Row, base: Row) -> list[float]:
    """Our throughput over the baseline's, per round: each round timed both back to back."""
    return [b / o for o, b in zip(ours.times, base.times)]


def _verdict(median: float, best: float, goal: float, higher_is_better: bool = True) -> str:
    """met / MISSED, or 'within noise' when the median misses but some round reached the goal."""
    ok = (lambda x: x >= goal) if higher_is_better else (lambda x: x <= goal)
    return "met" if ok(median) else "within run-to-run noise" if ok(best) else "MISSED"


def targets(rows: list[Row], device: str) -> list[str]:
    """The issue's targets, from the per-round (paired) ratios of this run: median and range over rounds."""
    base = {(r.model, r.batch): r for r in rows if r.system == "HF pipeline"}
    ours_rows = [r for r in rows if r.system == "ours"]
    lines = []
    timed_plain = [r for r in ours_rows if r.plain_times]
    if timed_plain:
        worst = max(timed_plain, key=lambda r: r.overhead)
        o = worst.overheads
        lines.append(f"- instrumentation overhead <= {OVERHEAD_TARGET:.0%}: worst median {worst.overhead:+.1%} "
                     f"(rounds {min(o):+.1%} to {max(o):+.1%}; {worst.model} {worst.runtime} {worst.precision} "
                     f"batch {worst.batch}): {_verdict(worst.overhead, min(o), OVERHEAD_TARGET, False)}")
    eager = [(r, paired_ratios(r, base[(r.model, r.batch)])) for r in ours_rows
             if r.runtime == TRANSFORMERS and (r.model, r.batch) in base]
    for r, ratios in sorted(eager, key=lambda x: statistics.median(x[1]))[:1]:
        m = statistics.median(ratios)
        lines.append(f"- our transformers runtime no slower than the HF pipeline: lowest median {m:.3f}x "
                     f"(rounds {min(ratios):.3f}x to {max(ratios):.3f}x; {r.model} batch {r.batch}): "
                     f"{_verdict(m, max(ratios), 1.0)}")
    small = [r for r in ours_rows if r.model == "whisper-small" and r.batch == 8]
    if device == "cuda" and small and ("whisper-small", 8) in base:
        best = max(small, key=lambda r: r.tput)
        ratio = best.tput / base[("whisper-small", 8)].tput
        lines.append(f"- fastest GPU runtime >= {GPU_SPEEDUP_TARGET:.0f}x the HF pipeline on whisper-small batch 8: "
                     f"{ratio:.2f}x ({best.runtime} {best.precision}): "
                     f"{'met' if ratio >= GPU_SPEEDUP_TARGET else 'MISSED'}")
    return lines


def _versions() -> str:
    engines = ("ctranslate2", "faster-whisper", "openai-whisper", "pywhispercpp")
    return ", ".join([*(f"{k} {v}" for k, v in system.versions().items()), *map(system.package_version, engines)])


def _report(args: argparse.Namespace, argv: list[str] | None, device: str, clips: list, refs: list[str] | None,
            rows: list[Row], wall_s: float) -> str:
    hw = system.hardware_summary()
    return "\n".join([
        f"Command: `python benchmarks/runtimes.py {shlex.join(sys.argv[1:] if argv is None else argv)}`  ",
        f"Machine: {hw['cpu']}, {hw['logical_cores']} logical cores, {hw['memory_gib']} GiB"
        + (f", {hw['gpu']}" if device == "cuda" else "") + f"; device {device}  ",
        f"Versions: {_versions()}; date {system.now_iso()}  ",
        f"Clips: {len(clips)} x {args.clip_seconds:g} s ({'real speech' if refs else 'noise'}); "
        f"median of {args.runs} timed runs after one warm-up; wall time {wall_s:.0f} s",
        "", table(rows), "", NOTE, "", "Targets:", *targets(rows, device)])


def merged(paths: list[Path]) -> str:
    """One report from several runs' timings (the .json beside each report): their headers, one table, targets."""
    rows = [Row(**d) for p in paths for d in json.loads(p.read_text())]
    headers = [p.with_suffix(".md").read_text().split("\n\n")[0].replace("  \n", "\n  ") for p in paths]
    device = "cuda" if any("device cuda" in h for h in headers) else "cpu"
    return "\n".join(["Runs merged:", *(f"- {h}" for h in headers), "", table(rows), "", NOTE, "",
                      "Targets:", *targets(rows, device)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=models.DEVICES)
    p.add_argument("--models", default="whisper-tiny,whisper-small,whisper-large-v3-turbo,wav2vec2",
                   help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--runs", type=int, default=5, help="timed runs per system (median reported)")
    p.add_argument("--clip-seconds", type=float, default=30.0)
    p.add_argument("--clips", type=int, help="clips per call (default: the largest batch size)")
    p.add_argument("--runtimes", default=",".join(models.RUNTIMES),
                   help="our runtimes to include, each as RUNTIME or RUNTIME:PRECISION (e.g. ctranslate2:int8)")
    p.add_argument("--out", type=Path, help="also write the report (markdown) here, and every timing beside it (.json)")
    p.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                   help="measure nothing: print one report from earlier runs' timing files (with --out, write it)")
    args = p.parse_args(argv)
    if args.merge:
        report = merged(args.merge)
        if args.out:
            args.out.write_text(report + "\n")
        print(report)
        return 0
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    device = capabilities.resolve_device(args.device)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    clips, refs = speech_clips(args.clip_seconds, args.clips or max(batches))
    t0 = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    rows: list[Row] = []

    def emit(row: Row) -> None:  # the report so far after every row: a long run keeps what it measured
        rows.append(row)
        if args.out:
            args.out.write_text(_report(args, argv, device, clips, refs, rows, time.perf_counter() - t0) + "\n")
            args.out.with_suffix(".json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    for name in args.models.split(","):
        bench_model(name, device, batches, args.runs, clips, refs, set(args.runtimes.split(",")), log, emit)
    print(_report(args, argv, device, clips, refs, rows, time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
