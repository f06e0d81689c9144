"""The probes of issue 22 (reliability round 3), replayed: each one held or failed, and the counts.

    python benchmarks/probes.py                # every probe (a few minutes: two whisper.cpp conversions)
    python benchmarks/probes.py --quick        # without the probes that convert a model or start a subprocess
    python benchmarks/probes.py -k merge       # only the probes whose name holds "merge"

A probe is what an attacker on a classroom network or a careless user tried: a path typed into the model box, a
damaged whisper.cpp file, a 300-character name, a transcript in Latin-1, a sweep file that is small on disk and
huge in memory, a bad setting. It *holds* when the answer is the one the issue asks for: one sentence (CLI: exit 2
through the user-error path; app: a message, no traceback, no server path) or the safe behaviour it names. The CLI
probes run `asr-profile` in this process (an exception that escapes it is a failure, with its type), except those
that load whisper.cpp or measure memory, which run it in a subprocess. Everything happens in a temporary folder;
nothing is downloaded (the model hub is faked at its edge where a probe needs it).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pandas as pd
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the tree under test first; fake_sweep from tests/fakes.py

from asr_app import inputs, model_access  # noqa: E402 - after the path is set
from asr_core import checkpoints, cli, cluster, sweep, sweep_table  # noqa: E402
from asr_core.audio import SAMPLE_RATE  # noqa: E402
from asr_core.errors import ClipSourceError, ModelError  # noqa: E402
from asr_core.models import REGISTRY  # noqa: E402
from fakes import fake_sweep, librispeech_folder  # noqa: E402

LONG = "x" * 300  # longer than any file or folder name may be (255 bytes)
GGML_MODEL = ["--model", "openai/whisper-tiny", "--weights", "synthetic", "--runtime", "whisper.cpp", "--precision",
              "q8_0", "--tokens", "3", "--no-flops", "--no-warmup"]
BOMB_RSS_LIMIT = 1 << 30  # merging the 43 KB "memory bomb" took 2.2 GB before the bounded reader
SUBPROCESS_S = 600


@dataclass(frozen=True)
class Probe:
    item: int  # the numbered item (0: across all of them)
    name: str
    run: Callable[[Path], str]  # "" when it held, else what went wrong
    slow: bool = False  # converts a model or starts a subprocess


# --- how a probe looks at an answer ----------------------------------------------------------------------------

def asr_profile(*args: str, env: dict[str, str] | None = None) -> tuple[int | None, str, str]:
    """`asr-profile args` in this process: (exit code, stdout, stderr); code None when an exception escaped."""
    out, err = io.StringIO(), io.StringIO()
    with _environment(env or {}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001 - what the probe is looking for
            err.write(traceback.format_exc())
            code = None
    return code, out.getvalue(), err.getvalue()


def asr_profile_subprocess(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "asr_core", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=SUBPROCESS_S, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    return done.returncode, done.stdout, done.stderr


def one_sentence(answer: tuple[int | None, str, str], *expected: str) -> str:
    """"" when the CLI answered exit 2 with one error line holding each expected text, else what it did."""
    code, _, err = answer
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    if code != 2 or "Traceback" in err or not lines:
        last = (err.strip().splitlines() or ["nothing on stderr"])[-1]
        return f"exit {code}: {last[:160]}"
    missing = [e for e in expected if e not in err]
    return f"exit 2 but the message lacks {missing}: {lines[-1][:160]}" if missing else ""


def refused_with(call: Callable[[], object], error: type[BaseException], sentence: str | None = None,
                 contains: str = "") -> str:
    """"" when call raises error with exactly sentence (or one holding contains), else what it did."""
    try:
        value = call()
    except error as exc:
        if sentence is not None and str(exc) != sentence:
            return f"another sentence: {str(exc)[:160]}"
        return "" if contains in str(exc) else f"the sentence lacks {contains!r}: {str(exc)[:160]}"
    except BaseException as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc)[:160]}"
    return f"accepted: {str(value)[:160]}"


@contextlib.contextmanager
def _environment(env: dict[str, str]):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wav(path: Path, seconds: float = 1.0, silent: bool = False) -> Path:
    n = max(1, int(seconds * SAMPLE_RATE))
    audio = np.zeros(n) if silent else 0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / SAMPLE_RATE)
    sf.write(path, audio.astype(np.float32), SAMPLE_RATE)
    return path


def repo(tmp: Path) -> Path:
    """A repository folder beside a ../shared/models/tiny checkpoint, a private folder with a checkpoint, a secret."""
    root = tmp / "repo"
    root.mkdir()
    for ckpt in (tmp / "shared" / "models" / "tiny", tmp / "private" / "model"):
        ckpt.mkdir(parents=True)
        (ckpt / "config.json").write_text('{"model_type": "whisper"}')
    return root


# --- 1. the model box --------------------------------------------------------------------------------------------

def model_box_refuses(typed: str) -> Callable[[Path], str]:
    def probe(tmp: Path) -> str:
        root = repo(tmp)
        with _environment({model_access.ANY_MODEL_ENV: "", model_access.MODEL_FOLDERS_ENV: ""}):
            return refused_with(lambda: model_access.allowed_model(typed.format(tmp=tmp), root), ModelError,
                                model_access.MODEL_REFUSED)
    return probe


def model_box_lists_allowed(tmp: Path) -> str:
    root = repo(tmp)
    with _environment({model_access.ANY_MODEL_ENV: "", model_access.MODEL_FOLDERS_ENV: ""}):
        options = model_access.model_options(root)
    expected = [*REGISTRY, str((tmp / "shared" / "models" / "tiny").resolve())]
    return "" if options == expected else f"the picker lists {options[len(REGISTRY):]}"


def hub_download_capped(tmp: Path) -> str:
    """A typed hub id (the operator allowed any) whose files add up to 50 GB: refused from the hub's file list."""
    import huggingface_hub
    files = [SimpleNamespace(rfilename="model.safetensors", size=50 * 10**9)]
    hub = SimpleNamespace(model_info=lambda repo_id, files_metadata, timeout: SimpleNamespace(siblings=files))
    real_api, real_needs = huggingface_hub.HfApi, checkpoints.needs_download
    huggingface_hub.HfApi, checkpoints.needs_download = (lambda: hub), (lambda m: True)
    try:
        with _environment({model_access.ANY_MODEL_ENV: "1", model_access.MAX_DOWNLOAD_ENV: ""}):
            return refused_with(lambda: model_access.check_loadable("someone/huge-whisper", "pretrained", tmp),
                                ModelError, contains="over this app's limit of 4,000 MB")
    finally:
        huggingface_hub.HfApi, checkpoints.needs_download = real_api, real_needs


# --- 2. damaged whisper.cpp files ----------------------------------------------------------------------------

def damaged_ggml(damage: str) -> Callable[[Path], str]:
    def probe(tmp: Path) -> str:
        env = {"ASR_GGML_CACHE": str(tmp / "ggml")}
        clip = str(wav(tmp / "clip.wav", 2.0))
        if (code := asr_profile_subprocess("transcribe", clip, *GGML_MODEL, env=env)[0]) != 0:
            return f"the first (converting) run exited {code}"
        model = next((tmp / "ggml").glob("*.bin"))
        with open(model, "r+b") as f:
            if damage == "cut":
                f.truncate(100 * 1024)
            else:
                f.seek(4)  # after the magic: n_vocab
                f.write(struct.pack("<i", 12345))
        return one_sentence(asr_profile_subprocess("transcribe", clip, *GGML_MODEL, env=env), "is damaged",
                            "delete it to convert the checkpoint again")
    return probe


def part_files_cleaned(tmp: Path) -> str:
    cache = tmp / "ggml"
    env = {"ASR_GGML_CACHE": str(cache)}
    clip = str(wav(tmp / "clip.wav", 2.0))
    asr_profile_subprocess("transcribe", clip, *GGML_MODEL, env=env)
    model = next(cache.glob("*.bin"))
    left = model.with_name(model.name + "k1ll3d.part")
    left.write_bytes(b"half a conversion")
    model.unlink()
    code = asr_profile_subprocess("transcribe", clip, *GGML_MODEL, env=env)[0]
    return "" if code == 0 and not left.exists() else f"exit {code}; leftover still there: {left.exists()}"


def empty_output_flagged(tmp: Path) -> str:
    from asr_core.output_checks import output_notes
    notes = output_notes([np.full(SAMPLE_RATE, 0.3, dtype=np.float32)], [""], ["the speech"], "pretrained")
    return "" if "gave no transcript" in notes else f"notes: {notes!r}"


# --- 3. names over 255 characters -------------------------------------------------------------------------------

def long_model_id(model: str) -> Callable[[Path], str]:
    def probe(tmp: Path) -> str:
        return one_sentence(asr_profile("transcribe", str(wav(tmp / "c.wav")), "--model", model), "That model name")
    return probe


def long_name_in_model_box(tmp: Path) -> str:
    with _environment({model_access.ANY_MODEL_ENV: "1"}):
        model, refused = model_access.typed_model(f"openai/whisper-{LONG}", tmp)
    return "" if not model and refused.startswith("That model name") else f"took {model[:40]!r}: {refused[:100]}"


def long_model_in_uploaded_csv(tmp: Path) -> str:
    from asr_app import sweep_views
    from asr_core.models import checkpoint_of
    csv = fake_sweep().assign(model=LONG).head(5).to_csv(index=False).encode()
    table = sweep_views.with_model_names(sweep_table.read(csv, "mine.csv"))
    names = {*table[inputs.MODEL_NAME], *map(checkpoint_of, table["model"])}
    return "" if names == {LONG} else f"names {[n[:40] for n in names]}"


# --- 4. transcripts that are not UTF-8 --------------------------------------------------------------------------

def latin1_folder(tmp: Path) -> Path:
    folder = librispeech_folder(tmp / "class" / "chapter")
    (folder / "1-2.trans.txt").write_bytes("1-2-0000 CAFÉ\n".encode("latin-1"))
    return folder


def latin1_in_app(tmp: Path) -> str:
    folder = latin1_folder(tmp)
    return refused_with(lambda: inputs.folder_utterances(folder), ClipSourceError,
                        "1-2.trans.txt is not UTF-8 text; save it as UTF-8 text.")


def latin1_in_cli(command: str) -> Callable[[Path], str]:
    def probe(tmp: Path) -> str:
        folder = latin1_folder(tmp)
        extra = ["--weights", "synthetic", "--out", str(tmp / "s.parquet")] if command == "sweep" else \
            ["--models", "", "--cache-dir", str(tmp / "cache")]
        return one_sentence(asr_profile(command, "--clips", str(folder), *extra), "is not UTF-8 text")
    return probe


# --- 5. merge's memory -----------------------------------------------------------------------------------------

BOMB_SCRIPT = textwrap.dedent("""
    import re, sys
    from asr_core import cli
    code = cli.main(["merge", sys.argv[1], "--out", sys.argv[2]])
    peak_kib = re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1)  # this process's own peak
    print(code, int(peak_kib) * 1024)
""")


def merge_memory_bomb(tmp: Path) -> str:
    """One 1 MB string in 1,000 rows, written by pandas as the issue's probe did: a 124 KB parquet file (its
    dictionary holds the string once); the merge must stay far below the 2.2 GB the unbounded reader took. (This
    process holds about 1 GB for a moment while pandas writes the file.)"""
    rows = fake_sweep().assign(host="x").sample(1000, replace=True, random_state=0).reset_index(drop=True)
    rows["repeat"] = range(1000)
    bomb = tmp / "bomb.parquet"
    rows.assign(error="e" * 2**20).to_parquet(bomb)
    del rows
    done = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(bomb), str(tmp / "all.parquet")], cwd=ROOT,
                          capture_output=True, text=True, timeout=SUBPROCESS_S, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        code, rss = map(int, done.stdout.split()[-2:])
    except ValueError:
        return f"exit {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1][:160]}"
    return "" if rss < BOMB_RSS_LIMIT else f"exit {code}, peak RSS {rss / 2**30:.2f} GiB"


# --- 6. conversion caches that cannot be used ------------------------------------------------------------------

def bad_ggml_cache(where: str) -> Callable[[Path], str]:
    def probe(tmp: Path) -> str:
        (tmp / "file").write_text("")
        cache = where.format(tmp=tmp)
        answer = asr_profile("transcribe", str(wav(tmp / "c.wav")), *GGML_MODEL, env={"ASR_GGML_CACHE": cache})
        return one_sentence(answer, "The conversion cache cannot be used", "point ASR_GGML_CACHE at a writable")
    return probe


# --- 7. merge's inputs ---------------------------------------------------------------------------------------------

def sweep_file(tmp: Path, name: str, df: pd.DataFrame | None = None) -> Path:
    path = tmp / name
    df = fake_sweep().assign(host=name) if df is None else df
    df.to_csv(path, index=False) if path.suffix == ".csv" else df.to_parquet(path)
    return path


def merge_bad_provenance(tmp: Path) -> str:
    a = sweep_file(tmp, "a.parquet")
    sweep.provenance_path(a).write_text('{"runs": [1, "x"]}')
    return one_sentence(asr_profile("merge", str(a), "--out", str(tmp / "all.parquet")), "not a provenance record")


def merge_empty(tmp: Path) -> str:
    empty = sweep_file(tmp, "empty.parquet", fake_sweep().iloc[:0])
    return one_sentence(asr_profile("merge", str(empty), "--out", str(tmp / "all.parquet")), "empty")


def merge_nan_batch(tmp: Path) -> str:
    nan = sweep_file(tmp, "nan.parquet", fake_sweep().astype({"batch_size": float}).assign(batch_size=np.nan))
    return one_sentence(asr_profile("merge", str(nan), "--out", str(tmp / "all.parquet")), "batch_size")


def merge_into_itself(tmp: Path) -> str:
    a = sweep_file(tmp, "a.parquet")
    sweep.write_runs(sweep.provenance_path(a), [{"command": "asr-profile sweep"}])
    for _ in range(3):
        if (code := asr_profile("merge", str(a), "--out", str(a))[0]) != 0:
            return f"exit {code}"
    runs = json.loads(sweep.provenance_path(a).read_text())["runs"]
    return "" if len(runs) == 1 else f"{len(runs)} provenance records after three merges into itself"


# --- 8. reference and grid files --------------------------------------------------------------------------------

def reference_file(name: str) -> Callable[[Path], str]:
    def probe(tmp: Path) -> str:
        path = tmp / LONG if name == "long" else tmp
        answer = asr_profile("transcribe", str(wav(tmp / "c.wav")), "--reference-file", str(path))
        return one_sentence(answer, "File name too long" if name == "long" else "is a folder")
    return probe


def config_folder(tmp: Path) -> str:
    return one_sentence(asr_profile("sweep", "--config", str(tmp), "--out", str(tmp / "s.parquet")), "is a folder")


# --- 10. counts range-checked ---------------------------------------------------------------------------------

def huge_batch_upload(tmp: Path) -> str:
    csv = fake_sweep().astype({"batch_size": float}).assign(batch_size=1e300).to_csv(index=False).encode()
    return refused_with(lambda: sweep_table.read(csv, "t.csv"), sweep_table.SweepFileError,
                        contains="batch_size must be at most")


# --- 11. environment settings ---------------------------------------------------------------------------------

def clip_cache_at_root(tmp: Path) -> str:
    root = tmp / "repo"
    root.mkdir()
    with _environment({"ASR_CLIP_CACHE": "/", inputs.SAMPLE_FOLDERS_ENV: ""}):
        return refused_with(lambda: inputs.allowed_folder("/etc", root), ClipSourceError, inputs.FOLDER_REFUSED)


def home_in_sample_folders(tmp: Path) -> str:
    librispeech_folder(tmp / "home" / "samples" / "chapter")
    with _environment({"HOME": str(tmp / "home"), inputs.SAMPLE_FOLDERS_ENV: "~/samples", "ASR_CLIP_CACHE": ""}):
        folders = inputs.sample_folders(tmp)
    expected = [(tmp / "home" / "samples" / "chapter").resolve()]
    return "" if folders == expected else f"listed {folders}"


# --- 12. odd answers of the CLI -------------------------------------------------------------------------------

def silence_noted(tmp: Path) -> str:
    tiny = ROOT.parent / "shared" / "models" / "whisper-tiny.en"
    if not tiny.is_dir():
        return "skipped: ../shared/models/whisper-tiny.en is not here"
    code, out, err = asr_profile("transcribe", str(wav(tmp / "silence.wav", 2.0, silent=True)), "--model", str(tiny),
                                 "--no-flops")
    return "" if code == 0 and "nearly silent" in out and '"you"' in out else f"exit {code}: {out[-200:]}"


def one_sample_clip(tmp: Path) -> str:
    path = tmp / "one.wav"
    sf.write(path, np.full(1, 0.5, dtype=np.float32), SAMPLE_RATE)
    return one_sentence(asr_profile("transcribe", str(path), "--weights", "synthetic"), "too short to measure")


def out_txt(tmp: Path) -> str:
    answer = asr_profile("sweep", "--clips", str(tmp), "--weights", "synthetic", "--out", str(tmp / "t.txt"))
    return one_sentence(answer, "ends in neither .parquet nor .csv") or ("t.txt written" if (tmp / "t.txt").exists()
                                                                       else "")


def every_cell_left_out(tmp: Path) -> str:
    answer = asr_profile("sweep", "--clips", str(tmp), "--weights", "synthetic", "--runtimes", "whisper.cpp",
                         "--precisions", "fp32", "--out", str(tmp / "s.parquet"))
    return one_sentence(answer, "Every cell of this grid is left out") or ("claims rows" if "rows in" in answer[1]
                                                                          else "")


# --- 0. no traceback reaches a visitor ---------------------------------------------------------------------------

def error_details_hidden(tmp: Path) -> str:
    import tomllib
    value = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["client"].get("showErrorDetails")
    return "" if value == "none" else f"client.showErrorDetails is {value!r}"


def page_guard(tmp: Path) -> str:
    from streamlit import logger
    from streamlit.testing.v1 import AppTest
    logger.set_log_level("error")  # no "No runtime found" chatter from the app's caches outside a server
    from asr_app import state
    logging.disable(logging.CRITICAL)  # the guard logs the traceback for the operator: not this report's business
    try:
        with _environment({state.FAIL_ENV: "1", "ASR_CLIP_CACHE": str(tmp / "none")}):
            at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
            at.query_params[state.FAIL_PARAM] = "page"
            at.run()
    finally:
        logging.disable(logging.NOTSET)
    shown = [e.value for e in at.error] + [str(e.value) for e in at.exception]
    return "" if shown == [state.UNEXPECTED] else f"shown: {shown}"


PROBES = [
    Probe(1, "model box: /root/.ssh", model_box_refuses("/root/.ssh")),
    Probe(1, "model box: /nonexistent", model_box_refuses("/nonexistent")),
    Probe(1, "model box: a folder with config.json outside the allowed ones", model_box_refuses("{tmp}/private/model")),
    Probe(1, "model box: a hub id typed", model_box_refuses("someone/any-whisper")),
    Probe(1, "model picker lists the registry and allowed checkpoints", model_box_lists_allowed),
    Probe(1, "hub download over the cap (hub faked at its edge)", hub_download_capped),
    Probe(2, "whisper.cpp file cut to 100 KB", damaged_ggml("cut"), slow=True),
    Probe(2, "whisper.cpp file with a corrupted n_vocab", damaged_ggml("n_vocab"), slow=True),
    Probe(2, "empty output on speech with a reference is noted", empty_output_flagged),
    Probe(3, "CLI model id of 300 characters", long_model_id(LONG)),
    Probe(3, "CLI hub-like model id over 255 characters", long_model_id(f"openai/whisper-{LONG}")),
    Probe(3, "model box name over 255 characters (any model allowed)", long_name_in_model_box),
    Probe(3, "uploaded CSV with a 300-character model", long_model_in_uploaded_csv),
    Probe(4, "app sample folder with a Latin-1 transcript", latin1_in_app),
    Probe(4, "sweep --clips with a Latin-1 transcript", latin1_in_cli("sweep")),
    Probe(4, "prefetch --clips with a Latin-1 transcript", latin1_in_cli("prefetch")),
    Probe(5, "merge of a 1 MB string in 1,000 rows stays under 1 GiB", merge_memory_bomb, slow=True),
    Probe(6, "ASR_GGML_CACHE is a file", bad_ggml_cache("{tmp}/file")),
    Probe(6, "ASR_GGML_CACHE=/proc/x", bad_ggml_cache("/proc/x")),
    Probe(6, "ASR_GGML_CACHE where nothing can be written (/proc)", bad_ggml_cache("/proc")),
    Probe(7, "merge: provenance {\"runs\": [1, \"x\"]}", merge_bad_provenance),
    Probe(7, "merge: an input with 0 rows", merge_empty),
    Probe(7, "merge: a NaN batch_size", merge_nan_batch),
    Probe(7, "merge: a file into itself, three times", merge_into_itself),
    Probe(8, "--reference-file with a 300-character name", reference_file("long")),
    Probe(8, "--reference-file naming a folder", reference_file("folder")),
    Probe(8, "sweep --config naming a folder", config_folder),
    Probe(9, "*.part left by a killed conversion is removed at the next", part_files_cleaned, slow=True),
    Probe(10, "uploaded batch_size=1e300", huge_batch_upload),
    Probe(11, "ASR_CLIP_CACHE=/ does not open /etc", clip_cache_at_root),
    Probe(11, "~ in ASR_SAMPLE_FOLDERS is the home folder", home_in_sample_folders),
    Probe(12, "CLI notes Whisper's answer to silence", silence_noted),
    Probe(12, "a 1-sample clip", one_sample_clip),
    Probe(12, "sweep --out t.txt", out_txt),
    Probe(12, "a sweep whose every cell is left out", every_cell_left_out),
    Probe(0, "client.showErrorDetails hides details", error_details_hidden),
    Probe(0, "page guard: one sentence for an unexpected exception", page_guard),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="leave out the probes that convert or start processes")
    parser.add_argument("-k", default="", help="only probes whose name holds this text")
    args = parser.parse_args(argv)
    chosen = [p for p in PROBES if args.k.lower() in p.name.lower() and not (args.quick and p.slow)]
    held = failed = skipped = 0
    for probe in chosen:
        tmp = Path(tempfile.mkdtemp(prefix="asr-probe-"))
        try:
            why = probe.run(tmp)
        except BaseException as exc:  # noqa: BLE001 - a probe that blows up is a failed probe
            why = f"the probe raised {type(exc).__name__}: {str(exc)[:160]}"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        mark = "skip" if why.startswith("skipped") else "FAIL" if why else "held"
        held, failed, skipped = held + (mark == "held"), failed + (mark == "FAIL"), skipped + (mark == "skip")
        print(f"{mark}  [{probe.item or 'all'}] {probe.name}" + (f": {why}" if why else ""), flush=True)
    print(f"\n{held} held, {failed} failed" + (f", {skipped} skipped" if skipped else "") + f" of {len(chosen)} probes")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
