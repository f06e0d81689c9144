"""Live captions streamed in real time: a recorded talk played at the pace it was spoken, per runtime.

    python benchmarks/streaming.py --out benchmarks/results-cpu-streaming-whisper-tiny.md

For each model and runtime: the model is loaded and warmed up (one untimed decode), then the clip is fed in
20 ms chunks at real-time pace (a feeder thread keeps to the wall clock, as a microphone would) into an
``asr_core.stream_session.LiveSession`` (its worker decodes every step; one energy window spans the session),
then the same audio is transcribed offline by ``measure.transcribe``. Per runtime it prints the median and
90th-percentile lag, the busy share, the audio skipped, the streamed and offline WER against the clip's
reference, how far the streamed text is from the offline one, and energy per audio hour with its source, plus
how busy other processes kept the CPUs meanwhile (a loaded machine slows every figure here).

Real time means a 62 s clip takes 62 s per runtime, plus loading and the offline pass. Defaults: the real
whisper-tiny.en in ../shared and the 62 s TED sample with TED's caption text. Only trained weights are
streamed (synthetic ones write no words): add a wav2vec2 checkpoint with --models where its weights are on disk.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import shlex
import sys
import threading
import time
from pathlib import Path

import numpy as np

from asr_core import capabilities, models, system
from asr_core.audio import SAMPLE_RATE, load_audio
from asr_core.checkpoints import pretrained_problem
from asr_core.errors import USER_ERRORS
from asr_core.hardware import CpuLoad
from asr_core.runtimes import load_model
from asr_core.stream_session import LiveSession, SessionRecord, decoder_for, with_offline
from asr_core.streaming import StreamOptions

SHARED = Path(__file__).resolve().parents[2] / "shared"
TINY_EN = SHARED / "models" / "whisper-tiny.en"
TED = SHARED / "speech" / "ted-talk-samples"
TED_62S = TED / "BillGates_2015-opening.mp3"
RUNTIMES = (
    "transformers,transformers-compiled,ctranslate2:fp32,ctranslate2:int8,openai-whisper,whisper.cpp:fp16,whisper.cpp:q8_0")
DEFAULT_PRECISION = {models.WHISPER_CPP: "fp16"}  # whisper.cpp runs no fp32
CHUNK_S = 0.02  # a WebRTC frame
NOTE = ("Lag: shown minus heard (the end of the audio of the first decode that heard the word; the word may have\n"
        "ended up to one step earlier). Busy: decoding seconds / session seconds (1.0: cannot keep up). Skipped:\n"
        "audio dropped unheard when the model fell behind. Streamed vs offline: word differences of the streamed\n"
        "text taking the offline transcript (the same audio in one go) as the reference. Energy per audio hour:\n"
        "the session's energy (idle waits included) / its length; 'estimate' is CPU time x an assumed package power.")


@dataclasses.dataclass
class Row:
    model: str
    runtime: str
    precision: str
    record: dict
    others_cpu_pct: float  # other processes' share of all cores during the session
    error: str = ""


def reference_of(clip: Path) -> str:
    """The clip's text from the manifest beside it ('' when there is none)."""
    manifest = clip.parent / "manifest.csv"
    if not manifest.is_file():
        return ""
    with open(manifest, newline="", encoding="utf-8") as f:
        return next((r["text"] for r in csv.DictReader(f) if r["path"] == clip.name), "")


def stream_in_real_time(session: LiveSession, audio: np.ndarray, chunk_s: float = CHUNK_S) -> None:
    """Feed audio to the session as a microphone would: each chunk when its last sample has been spoken."""
    chunk = round(chunk_s * SAMPLE_RATE)
    t0 = time.perf_counter()
    for start in range(0, audio.shape[0], chunk):
        end = min(start + chunk, audio.shape[0])
        time.sleep(max(0.0, t0 + end / SAMPLE_RATE - time.perf_counter()))
        session.feed(audio[start:end])


def bench(model_id: str, runtime: str, precision: str, audio: np.ndarray, reference: str,
          options: StreamOptions, log) -> Row:
    """One runtime: load, warm up, stream in real time, then the offline pass."""
    model = load_model(model_id, "cpu", precision, "pretrained", runtime)
    decode = decoder_for(model)
    log(f"{runtime} {precision}: warming up")
    decode(audio[: round(options.trim_s * SAMPLE_RATE)])  # untimed: first-call costs stay out of the session
    log(f"{runtime} {precision}: streaming {audio.shape[0] / SAMPLE_RATE:.0f} s in real time")
    load = CpuLoad()
    session = LiveSession(decode, options).start()
    feeder = threading.Thread(target=stream_in_real_time, args=(session, audio))
    feeder.start()
    feeder.join()
    record = session.stop(model)
    others = load.others_pct()
    log(f"{runtime} {precision}: offline pass")
    record = with_offline(record, model, session.audio, reference)
    return Row(str(model_id), runtime, precision, dataclasses.asdict(record), others)


def _pct(x: float) -> str:
    return "—" if x != x else f"{100 * x:.1f} %"


def _s(x: float) -> str:
    return "—" if x != x else f"{x:.2f}"


def table(rows: list[Row]) -> str:
    head = ("| model | runtime | precision | lag median (s) | lag p90 (s) | busy | skipped (s) | decodes | "
            "WER streamed | WER offline | streamed vs offline | Wh per audio hour | energy source | "
            "others' CPU |")
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    for row in rows:
        if row.error:
            lines.append(f"| {Path(row.model).name} | {row.runtime} | {row.precision} | {row.error} |" + " |" * 10)
            continue
        r = SessionRecord(**row.record)
        lines.append(f"| {Path(r.model).name} | {r.runtime} | {r.precision} | {_s(r.lag_median_s)} | "
                     f"{_s(r.lag_p90_s)} | {_pct(r.busy_share)} | {r.skipped_s:.1f} | {r.decodes} | {_pct(r.wer)} | "
                     f"{_pct(r.offline_wer)} | {_pct(r.differs_from_offline)} | {r.energy_per_audio_hour_wh:.3g} | "
                     f"{r.energy_source} | {row.others_cpu_pct:.0f} % |")
    return "\n".join(lines)


def report(argv: list[str], clip: Path, seconds: float, options: StreamOptions, rows: list[Row], wall_s: float) -> str:
    hw = system.hardware_summary()
    engines = ("ctranslate2", "openai-whisper", "pywhispercpp")
    versions = ", ".join([*(f"{k} {v}" for k, v in system.versions().items()), *map(system.package_version, engines)])
    return "\n".join([
        f"Command: `python benchmarks/streaming.py {shlex.join(argv)}`  ",
        f"Machine: {hw['cpu']}, {hw['logical_cores']} logical cores, {hw['memory_gib']} GiB; device cpu  ",
        f"Versions: {versions}; date {system.now_iso()}  ",
        f"Clip: {clip.name}, {seconds:.1f} s streamed in real time in {CHUNK_S * 1000:g} ms chunks; step "
        f"{options.step_s:g} s, trim {options.trim_s:g} s, buffer at most {options.max_buffer_s:g} s; "
        f"wall time {wall_s:.0f} s", "", table(rows), "", NOTE])


def runtimes_of(spec: str) -> list[tuple[str, str]]:
    """'ctranslate2:int8,transformers' -> [('ctranslate2', 'int8'), ('transformers', 'fp32')]."""
    out = []
    for item in filter(None, spec.split(",")):
        runtime, _, precision = item.partition(":")
        out.append((runtime, precision or DEFAULT_PRECISION.get(runtime, "fp32")))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=str(TINY_EN), help="comma-separated model ids or checkpoint folders (trained)")
    p.add_argument("--runtimes", default=RUNTIMES, help="each RUNTIME or RUNTIME:PRECISION")
    p.add_argument("--clip", type=Path, default=TED_62S)
    p.add_argument("--reference", help="the clip's text (default: its line in the manifest.csv beside it)")
    p.add_argument("--seconds", type=float, help="stream only the clip's first SECONDS (a dry run)")
    p.add_argument("--step", type=float, default=StreamOptions().step_s, help="seconds of new audio per decode")
    p.add_argument("--out", type=Path, help="also write the report (markdown) here, and the records beside it (.json)")
    args = p.parse_args(argv)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    audio = load_audio(args.clip, max_duration_s=None)
    reference = args.reference if args.reference is not None else reference_of(args.clip)
    if args.seconds:
        audio, reference = audio[: round(args.seconds * SAMPLE_RATE)], ""  # a slice has no reference text
    options = StreamOptions(step_s=args.step)
    t0 = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    rows: list[Row] = []
    for model_id in args.models.split(","):
        if problem := pretrained_problem(model_id):
            log(f"{model_id}: skipped, its trained weights are not here ({problem})")
            continue
        for runtime, precision in runtimes_of(args.runtimes):
            if why := capabilities.runtime_problem(models.family_of(model_id), runtime):
                log(f"{model_id} {runtime}: skipped ({why})")
                continue
            try:
                rows.append(bench(model_id, runtime, precision, audio, reference, options, log))
            except USER_ERRORS as exc:
                rows.append(Row(model_id, runtime, precision, {}, float("nan"), str(exc)))
            text = report(argv, args.clip, audio.shape[0] / SAMPLE_RATE, options, rows, time.perf_counter() - t0)
            if args.out:
                args.out.write_text(text + "\n")
                args.out.with_suffix(".json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    print(report(argv, args.clip, audio.shape[0] / SAMPLE_RATE, options, rows, time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
