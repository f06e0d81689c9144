"""Every page through streamlit.testing.v1.AppTest: it renders, runs, filters and recommends."""
from __future__ import annotations

import html
import io
import json
import math
import re

import pandas as pd
import pyarrow as pa
import pytest
import soundfile as sf
import torch
from markdown_it import MarkdownIt

from asr_app import choices, compare, figures, model_access, present, share, state
from asr_core.models import REGISTRY, RUNTIMES
from asr_app.inputs import model_label
from helpers import ROOT, TINY_EN, needs_shared, tone
from fakes import fake_sweep, librispeech_folder

APP = str(ROOT / "streamlit_app.py")
TIMEOUT_S = 120
RUN = "Run"


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A fake sweep in an empty precomputed folder and an empty clip cache, for every page test."""
    pre = tmp_path / "precomputed"
    pre.mkdir()
    fake_sweep().to_parquet(pre / "fake-sweep.parquet")
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(pre))
    monkeypatch.setenv("ASR_CLIP_CACHE", str(tmp_path / "no-clip-cache"))
    return pre


def _open(page: str):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    at.switch_page(f"pages/{page}.py").run()
    _clean(at)
    return at


def _open_link(page: str, params: dict):
    """A page opened from a share link: these query parameters in the address."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(f"pages/{page}.py").run()
    _clean(at)
    return at


def _clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert state.UNEXPECTED not in [e.value for e in at.error], "the page guard caught a bug: see the log"


def _specs(at) -> list[dict]:
    """The Vega-Lite spec of every Altair chart on the page."""
    return [json.loads(el.proto.spec) for el in at.get("vega_lite_chart")]


def _charts(at) -> list[tuple[str, pd.DataFrame]]:
    """(title, data) of every Altair chart on the page."""
    out = []
    for el in at.get("vega_lite_chart"):
        spec = json.loads(el.proto.spec)
        title = spec.get("title", "")
        data = pa.ipc.open_stream(el.proto.datasets[0].data.data).read_all().to_pandas()
        out.append((title if isinstance(title, str) else title.get("text", ""), data))
    return out


EXPLORE_TABS = ["Leaderboard", "Per audio hour", "Accuracy", "Speed & energy", "Trade-offs", "Batch size & compute",
                "Stages", "CPU vs GPU"]


def _tab(at, name: str):
    """Explore with another tab open (only the open tab is drawn)."""
    at.session_state[share.TAB] = name
    at.run()
    _clean(at)
    return at


def _every_tab(at) -> list[tuple[str, list[tuple[str, pd.DataFrame]], list[str]]]:
    """(tab, its charts, its download buttons' labels) for every tab of Explore, opened one after the other."""
    return [(name, _charts(_tab(at, name)), [b.label for b in at.get("download_button")]) for name in EXPLORE_TABS]


def _sentence(at) -> str:
    """Recommend's one plain sentence (the first Markdown on the page, in its large container), its no-break spaces
    between numbers and units read as spaces."""
    return at.markdown[0].value.replace("\u00a0", " ")


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


@pytest.fixture
def listed_whisper(monkeypatch, synthetic_whisper_dir):
    """The 32-wide synthetic Whisper folder, listed in the model picker as an operator lists a checkpoint folder
    (ASR_MODEL_FOLDERS): nothing typed is loaded unless the operator opens the model box to any model."""
    monkeypatch.setenv(model_access.MODEL_FOLDERS_ENV, str(synthetic_whisper_dir))
    return synthetic_whisper_dir.resolve()


def _choose_tiny(at, folder) -> str:
    """Choose the listed synthetic Whisper folder (listed_whisper) as the one model, as a visitor would; its label."""
    at.multiselect(key="models").set_value([str(folder)])
    return model_label(str(folder))


def _wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(seconds), 16000, format="WAV")
    return buf.getvalue()


# --- Home ------------------------------------------------------------------------------------------

def test_an_unexpected_exception_is_one_sentence_and_logged(env, monkeypatch, caplog):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv(state.FAIL_ENV, "1")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params[state.FAIL_PARAM] = "page"
    with caplog.at_level("ERROR", logger=state.__name__):
        at.run()
    assert not at.exception and [e.value for e in at.error] == [state.UNEXPECTED]
    assert "a failure on purpose (page)" in caplog.text and "Traceback" in caplog.text  # the details stay in the log
    monkeypatch.delenv(state.FAIL_ENV)
    at.run()  # without the test-only variable, the parameter does nothing
    assert not at.exception and not at.error


def test_an_exception_in_a_part_that_redraws_alone_is_one_sentence_and_logged(env, monkeypatch, caplog):
    """Explore's tabs redraw as a fragment, outside the page's guard: the fragment has its own."""
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv(state.FAIL_ENV, "1")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    at.query_params[state.FAIL_PARAM] = "fragment"
    with caplog.at_level("ERROR", logger=state.__name__):
        at.switch_page("pages/explore.py").run()
    assert not at.exception and [e.value for e in at.error] == [state.UNEXPECTED]
    assert "a failure on purpose (fragment)" in caplog.text and "Traceback" in caplog.text


def test_home_shows_hardware_and_meters(env):
    at = _open("home")
    assert at.title[0].value == "What does speech recognition cost?"
    assert len(at.table) == 2
    meters = at.table[1].value
    assert {"NVML energy counter", "RAPL", "CPU estimate"} <= set(meters["meter"])
    assert meters.set_index("meter").loc["CPU estimate", "works"] == "yes"
    assert at.table[0].value.iloc[0, 0] == "CPU"


# --- Transcribe ------------------------------------------------------------------------------------

def test_transcribe_renders_and_flags_what_cannot_run(env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    at = _open("transcribe")
    device = at.radio(key="device")
    assert device.value == "cpu"
    assert choices.NO_GPU in device.proto.captions[1]
    precision = at.radio(key="precision")
    assert "not supported on CPU" in precision.proto.captions[1]
    precision.set_value("fp16").run()
    _clean(at)
    assert _button(at, RUN).disabled
    assert any("fp16 on cpu" in c.value for c in at.caption)


def test_transcribe_run_with_synthetic_weights_on_an_uploaded_tone(env, listed_whisper, steady_rapl):
    at = _open("transcribe")
    at.radio(key="source").set_value("Upload a file").run()
    at.file_uploader(key="upload").set_value(("tone.wav", _wav(1.5), "audio/wav")).run()
    _choose_tiny(at, listed_whisper)
    at.radio(key="weights").set_value("synthetic").run()
    _clean(at)
    assert not _button(at, RUN).disabled
    _button(at, RUN).click().run()
    _clean(at)
    runs = at.session_state[state.RUNS_KEY]
    assert len(runs) == 1
    clip, r = runs[0]
    assert clip == "tone.wav" and r.status == "ok" and r.weights == "synthetic" and r.latency_s > 0
    assert math.isnan(r.wer) and r.audio_s == pytest.approx(1.5)
    assert any(figures.SYNTHETIC_NOTE in i.value for i in at.info)
    labels = [m.label for m in at.metric]
    assert "WER" in labels and "Latency per clip" in labels and any(label.startswith("Energy per clip (") for label in labels)
    # the card opens with the hour sentence, its assumptions a click away; the H100 line under the figures, projected
    texts = [m.value for m in at.markdown]
    opening = texts.index(next(t for t in texts if t.startswith(f"**{present.plain(model_label(str(listed_whisper)))}")))
    assert texts[opening + 1].startswith("**One hour of audio like this: ") and " on this CPU · " in texts[opening + 1]
    assert any("Batch: recorded audio" in m.value for p in at.get("popover") for m in p.markdown)  # its assumptions
    assert any(c.value.startswith("On an H100 (projected, in fp16 where this run used fp32 on the CPU): ")
               for c in at.caption)
    assert r.flops_source in ("deferred", "counted", "cache")  # counted after the result is shown, or cached
    assert "g CO2e (France)" in texts[opening + 1]
    at.selectbox(key=share.GRID).set_value("DEU").run()  # the sidebar's picker, shared with Explore and Recommend
    assert any(m.value.startswith("**One hour of audio like this: ") and "g CO2e (Germany)" in m.value
               for m in at.markdown)
    summary = next(m.value for m in at.markdown if "transcribed 1.5 s of speech" in m.value)
    assert "timing only" in summary and "wrong" not in summary  # synthetic weights: no error count claimed
    power = next(spec for spec in _specs(at) if spec.get("title") == "Power during the run")
    shaded = [layer for layer in power.get("layer", []) if layer["mark"]["type"] == "text"]
    assert shaded, "the warm-up is shaded and labelled"
    titles = [t for t, _ in _charts(at)]
    assert "Power during the run" in titles and any(t.startswith("Where the time goes") for t in titles)
    assert at.dataframe and at.download_button
    # another clip: the first clip's results are not shown under it, only in the session's table
    at.file_uploader(key="upload").set_value(("other.wav", _wav(2.5), "audio/wav")).run()
    _clean(at)
    assert not [m for m in at.metric] and not any(s.value == "Results" for s in at.subheader)
    assert any("The last run was on another clip (tone.wav)" in c.value for c in at.caption)
    assert len(at.dataframe) == 1


def test_transcribe_with_noise_records_the_snr(env, listed_whisper):
    at = _open("transcribe")
    at.radio(key="source").set_value("Upload a file").run()
    at.file_uploader(key="upload").set_value(("tone.wav", _wav(1.5), "audio/wav")).run()
    _choose_tiny(at, listed_whisper)
    at.radio(key="weights").set_value("synthetic")
    at.select_slider(key="snr").set_value(10.0).run()
    _clean(at)
    _button(at, RUN).click().run()
    _clean(at)
    _, r = at.session_state[state.RUNS_KEY][0]
    assert r.status == "ok" and r.snr_db == 10.0 and r.noise == "white"


def test_transcribe_from_the_clip_cache_by_length(env, monkeypatch, tmp_path, listed_whisper):
    from asr_core.clips import build_clip_cache
    cache = tmp_path / "cache"
    build_clip_cache(str(librispeech_folder(tmp_path / "ls", n=8, seconds=2.0)), cache,
                     buckets={"5s": (3.0, 7.0), "15s": (10.0, 20.0)}, per_bucket=2)
    monkeypatch.setenv("ASR_CLIP_CACHE", str(cache))
    at = _open("transcribe")
    assert at.radio(key="source").value.startswith("Clips by length")  # the cache is the default source
    assert at.segmented_control(key="bucket").value == "5s"
    at.segmented_control(key="bucket").set_value("15s").run()
    clip = at.selectbox(key="clip-15s").value
    assert clip.bucket == "15s" and clip.source == "local:ls"
    assert at.text_area[0].value == clip.reference and clip.reference.startswith("WORD NUMBER")
    _choose_tiny(at, listed_whisper)
    at.radio(key="weights").set_value("synthetic").run()
    _button(at, RUN).click().run()
    _clean(at)
    label, r = at.session_state[state.RUNS_KEY][0]
    assert label == f"local:ls:{clip.clip_id}" and r.bucket == "15s"
    assert r.audio_s == pytest.approx(clip.duration_s, abs=0.01)


def test_transcribe_offers_listed_models_only_and_no_model_box(env, monkeypatch):
    monkeypatch.delenv("ASR_ALLOW_ANY_MODEL", raising=False)
    at = _open("transcribe")
    assert not [t for t in at.text_input if t.key == "other_model"]  # nothing typed is loaded
    options = at.multiselect(key="models").options
    assert all(o in REGISTRY or "(local)" in o for o in options) and "openai/whisper-tiny" in options


LONG_NAME = "x" * 300  # longer than a file name may be


def test_transcribe_model_box_when_the_operator_allows_any_model(env, monkeypatch):
    monkeypatch.setenv("ASR_ALLOW_ANY_MODEL", "1")
    at = _open("transcribe")
    at.radio(key="source").set_value("Upload a file").run()
    at.file_uploader(key="upload").set_value(("tone.wav", _wav(0.5), "audio/wav")).run()
    at.text_input(key="other_model").set_value(f"openai/whisper-{LONG_NAME}").run()
    _clean(at)
    assert [e.value for e in at.error] == ["That model name (315 characters) cannot name a folder or hub model: a "
                                           "part between slashes has at most 255 characters and no NUL; check the "
                                           "name."]


def test_transcribe_shows_a_model_error_and_keeps_going(env, monkeypatch):
    monkeypatch.setenv("ASR_ALLOW_ANY_MODEL", "1")
    at = _open("transcribe")
    at.radio(key="source").set_value("Upload a file").run()
    at.file_uploader(key="upload").set_value(("tone.wav", _wav(0.5), "audio/wav")).run()
    at.multiselect(key="models").set_value([])
    at.text_input(key="other_model").set_value("/no/such/model")
    at.radio(key="weights").set_value("synthetic").run()
    _button(at, RUN).click().run()
    _clean(at)
    assert any("Unknown model '/no/such/model'" in e.value for e in at.error)
    assert at.session_state[state.RUNS_KEY][0][1].status == "error"


def test_transcribe_undecodable_upload_is_an_error_message(env):
    at = _open("transcribe")
    at.radio(key="source").set_value("Upload a file").run()
    at.file_uploader(key="upload").set_value(("noise.wav", b"not audio at all", "audio/wav")).run()
    _clean(at)
    assert any("Could not decode" in e.value for e in at.error)
    assert _button(at, RUN).disabled
    assert not at.get("audio")  # no player for audio that did not decode


def test_transcribe_a_very_short_clip_on_whisper_gets_a_padding_note(env):
    at = _open("transcribe")
    at.radio(key="source").set_value("Upload a file").run()
    at.file_uploader(key="upload").set_value(("short.wav", _wav(0.5), "audio/wav")).run()
    at.multiselect(key="models").set_value(["openai/whisper-tiny"]).run()
    _clean(at)
    assert any("pads every clip to 30 s" in i.value for i in at.info)
    at.multiselect(key="models").set_value(["facebook/wav2vec2-base-960h"]).run()
    assert not any("pads every clip" in i.value for i in at.info)


FOLDER_REFUSED = ("That folder is not one this app may read: choose one of the listed folders, or ask the operator "
                  "to add it to ASR_SAMPLE_FOLDERS.")


def test_transcribe_folder_chooser_offers_allowed_folders_and_refuses_others(env, monkeypatch, tmp_path):
    chapter = librispeech_folder(tmp_path / "class" / "chapter").resolve()
    (tmp_path / "secret").mkdir()
    (tmp_path / "class" / "link").symlink_to(tmp_path / "secret", target_is_directory=True)
    monkeypatch.setenv("ASR_SAMPLE_FOLDERS", str(tmp_path / "class"))
    at = _open("transcribe")
    at.radio(key="source").set_value("Sample folder").run()
    assert "class/chapter" in at.selectbox(key="folder").options
    at.selectbox(key="folder").set_value(chapter).run()
    _clean(at)
    assert at.selectbox(key="utt-class/chapter").value.utt_id == "1-2-0000"
    assert at.text_area[0].value == "WORD NUMBER 0" and not at.error
    at.selectbox(key="folder").set_value("Another folder…").run()
    for attempt in ("/", "..", str(tmp_path / "class" / ".."), str(tmp_path / "class" / "link"),
                    str(tmp_path / "class" / "missing")):
        at.text_input(key="folder_path").set_value(attempt).run()
        _clean(at)
        assert [e.value for e in at.error] == [FOLDER_REFUSED], attempt
        assert _button(at, RUN).disabled
    at.text_input(key="folder_path").set_value(str(tmp_path / "class" / "chapter")).run()
    assert not at.error and at.text_area[0].value == "WORD NUMBER 0"


def test_transcribe_folder_with_a_transcript_not_in_utf8_is_one_sentence(env, monkeypatch, tmp_path):
    chapter = librispeech_folder(tmp_path / "class" / "chapter").resolve()
    (chapter / "1-2.trans.txt").write_bytes("1-2-0000 CAFÉ\n".encode("latin-1"))
    monkeypatch.setenv("ASR_SAMPLE_FOLDERS", str(tmp_path / "class"))
    at = _open("transcribe")
    at.radio(key="source").set_value("Sample folder").run()
    at.selectbox(key="folder").set_value(chapter).run()
    _clean(at)
    assert [e.value for e in at.error] == ["1-2.trans.txt is not UTF-8 text; save it as UTF-8 text."]
    assert _button(at, RUN).disabled


@pytest.mark.slow
@needs_shared
def test_transcribe_real_checkpoint_on_librispeech_scores_wer(env):
    at = _open("transcribe")  # defaults: the sample folder's first utterance, the local tiny.en, pretrained
    assert at.radio(key="source").value == "Sample folder"
    assert at.multiselect(key="models").value == [str(TINY_EN.resolve())]
    assert at.radio(key="weights").value == "pretrained"
    _button(at, RUN).click().run()
    _clean(at)
    _, r = at.session_state[state.RUNS_KEY][0]
    assert r.status == "ok" and r.references == ("CAPTAIN FRERE SAYS THAT THE SCENERY IS DELIGHTFUL",)
    assert 0 <= r.wer <= 0.25  # tiny.en mishears one proper name at most
    assert any('class="word-diff"' in m.value for m in at.markdown)
    assert not at.error


def test_transcribe_runtime_ctranslate2_refuses_wav2vec2_and_explains(env):
    at = _open("transcribe")
    runtime = at.radio(key="runtime")
    assert runtime.options == list(RUNTIMES)  # the app offers every runtime the library declares
    at.multiselect(key="models").set_value(["facebook/wav2vec2-base-960h"])
    at.run()
    assert "Whisper only" in at.radio(key="runtime").proto.captions[2]
    at.radio(key="runtime").set_value("ctranslate2").run()
    _clean(at)
    assert _button(at, RUN).disabled
    assert any("runtime ctranslate2" in c.value and "Whisper only" in c.value for c in at.caption)


@pytest.mark.slow
@needs_shared
def test_transcribe_real_checkpoint_with_ctranslate2_int8(env):
    at = _open("transcribe")
    assert "ctranslate2 runtime only" in at.radio(key="precision").proto.captions[3]
    at.radio(key="runtime").set_value("ctranslate2").run()
    assert at.radio(key="precision").proto.captions[3] == "available"
    at.radio(key="precision").set_value("int8").run()
    _clean(at)
    _button(at, RUN).click().run()
    _clean(at)
    _, r = at.session_state[state.RUNS_KEY][0]
    assert (r.status, r.runtime, r.precision) == ("ok", "ctranslate2", "int8")
    assert 0 <= r.wer <= 0.25
    assert any("ctranslate2" in c.value for c in at.caption)
    assert "runtime" in at.dataframe[0].value.columns


def _upload_tone(at, seconds: float = 5.0) -> None:
    at.radio(key="source").set_value("Upload a file").run()
    at.file_uploader(key="upload").set_value(("tone.wav", _wav(seconds), "audio/wav")).run()


def test_transcribe_compares_rows_with_their_own_settings_repeated_beside_the_sweep(env, listed_whisper):
    # the fake sweep measured this model (whisper-tiny there) at batch 1 on 5 s clips
    fake_sweep().replace({"model": {"openai/whisper-tiny": str(listed_whisper)}}).to_parquet(
        env / "fake-sweep.parquet")
    at = _open("transcribe")
    _upload_tone(at)
    tiny = _choose_tiny(at, listed_whisper)
    at.radio(key="weights").set_value("synthetic").run()
    _button(at, "Add to the comparison").click().run()
    at.segmented_control(key="batch").set_value(4).run()
    _button(at, "Add to the comparison").click().run()
    _button(at, "Add to the comparison").click().run()  # the same row again: listed once
    _clean(at)
    assert [r.batch_size for r in at.session_state[state.COMPARE_KEY]] == [1, 4]
    at.number_input(key="repeats").set_value(2).run()
    _button(at, RUN).click().run()
    _clean(at)
    runs = [r for _, r in at.session_state[state.RUNS_KEY]]
    assert [(r.batch_size, r.status) for r in runs] == [(1, "ok"), (4, "ok"), (1, "ok"), (4, "ok")]  # in rounds
    labels = [m.value for m in at.markdown if m.value.startswith(f"**{present.plain(tiny)}")]
    assert labels == [f"**{present.plain(tiny)} · batch 1**", f"**{present.plain(tiny)} · batch 4**"]
    assert sum(m.value.startswith("Over 2 runs: latency per clip median") for m in at.markdown) == 2
    # the fake sweep has this model at batch 1 on 5 s clips (not at batch 4): its median beneath the live figure
    sweep = [c.value for c in at.caption if c.value.startswith("the precomputed sweep measured")]
    assert len(sweep) == 4  # latency, RTF and both energy figures of the batch-1 row; synthetic: no WER
    assert sum(v.endswith("J (estimate) here") for v in sweep) == 2
    titles = [t for t, _ in _charts(at)]
    assert "Latency per utterance, run by run" in titles and "Energy per utterance, run by run" in titles
    session = dict(_charts(at))["Energy per utterance, run by run"]
    assert len(session) == 4 and set(session["energy_source"]) <= {"estimate", "measured: rapl"}
    assert sum(b.label in ("PNG", "SVG") for b in at.get("download_button")) >= 6
    # a row removed; the list cleared: Run runs the chosen models with the settings again
    next(b for b in at.button if b.key == "remove-row-0").click().run()
    assert [r.batch_size for r in at.session_state[state.COMPARE_KEY]] == [4]
    _button(at, "Clear the list").click().run()
    _clean(at)
    assert at.session_state[state.COMPARE_KEY] == []


def test_transcribe_refuses_a_row_its_runtime_cannot_batch(env):
    at = _open("transcribe")
    _upload_tone(at, 1.0)
    at.multiselect(key="models").set_value(["openai/whisper-tiny"])
    at.radio(key="runtime").set_value("whisper.cpp")
    at.segmented_control(key="batch").set_value(8).run()
    _clean(at)
    assert _button(at, RUN).disabled
    assert any("batch 8 with whisper.cpp: whisper.cpp transcribes one clip at a time" in c.value for c in at.caption)


def test_a_class_mode_link_switches_it_on_with_large_type(env):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params[state.CLASS_KEY] = "true"
    at.run()
    _clean(at)
    assert at.toggle(key=state.CLASS_KEY).value
    assert any(present.CLASS_MODE_CSS in h.proto.body for h in at.get("html"))
    at.toggle(key=state.CLASS_KEY).set_value(False).run()
    assert not any(present.CLASS_MODE_CSS in h.proto.body for h in at.get("html"))
    assert state.CLASS_KEY not in at.query_params  # off is the default: the link no longer carries it


def _class_mode_transcribe():
    """Transcribe in class mode (AppTest runs a page without streamlit_app.py's sidebar, so set it directly)."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    at.session_state[state.CLASS_KEY] = True
    at.switch_page("pages/transcribe.py").run()
    _clean(at)
    return at


@pytest.mark.slow
def test_class_mode_hides_expert_settings_and_runs_a_ready_comparison(env, empty_flop_cache):
    at = _class_mode_transcribe()
    buttons = {b.label: b for b in at.button if b.key and b.key.startswith("ready-")}
    assert list(buttons) == ["tiny vs small", "fp32 vs int8", "batch 1 vs 8"]  # no GPU here: no CPU vs GPU
    assert any("switch class mode off" in c.value for c in at.caption)
    at.radio(key="source").set_value("Upload a file").run()
    assert all(b.disabled for b in at.button if b.key and b.key.startswith("ready-"))  # no clip yet
    _upload_tone(at)
    next(b for b in at.button if b.label == "batch 1 vs 8").click().run()
    _clean(at)
    runs = [r for _, r in at.session_state[state.RUNS_KEY]]
    assert [r.batch_size for r in runs] == [1, 8] * compare.READY_ROUNDS and all(r.status == "ok" for r in runs)
    # the hour's figures large, then the WER; one busy-machine warning at most, never one per card
    assert [m.label for m in at.metric] == ["Time", "Energy (estimate)", "CO2e (estimate)", "Electricity (estimate)",
                                            "WER"] * 2
    assert sum(w.value.startswith("Other programs kept") for w in at.warning) <= 1
    assert any("within this machine's noise" in m.value or "beyond this machine's noise" in m.value
               for m in at.markdown)  # the verdict over the rounds
    assert all(math.isnan(r.total_flops) and r.flops_source == "deferred" for r in runs)  # class mode: not counted
    assert [r.batch_size for r in at.session_state[state.COMPARE_KEY]] == [1, 8]  # shown as the list that ran
    big = [spec for spec in _specs(at) if spec.get("config", {}).get("axis", {}).get("labelFontSize")]
    assert len(big) >= 3  # the power, stage and session charts in large type


def test_class_mode_off_offers_no_ready_comparisons(env):
    at = _open("transcribe")
    assert not [b for b in at.button if b.key and b.key.startswith("ready-")]
    assert not any(present.CLASS_MODE_CSS in h.proto.body for h in at.get("html"))


# --- Explore ---------------------------------------------------------------------------------------

def test_explore_draws_every_chart_and_lists_failures(env):
    at = _open("explore")
    assert not _charts(at) and at.dataframe[0].value.shape[0] > 0  # the leaderboard first; other tabs not drawn
    tabs = _every_tab(at)
    titles = " | ".join(t for _, charts, _ in tabs for t, _ in charts)
    for expected in ("Wh per hour of audio", "WER by clip length", "Latency per utterance", "Real-time factor",
                     "Energy per utterance", "Energy per audio second", "WER vs", "Throughput vs batch size",
                     "Peak memory vs batch size", "Latency vs FLOPs", "Where the time goes", "Minutes of processing per hour"):
        assert expected in titles, titles
    assert all(not data.empty for _, charts, _ in tabs for _, data in charts)
    for name, charts, downloads in tabs:
        if name != "CPU vs GPU":  # its export is the table, every figure's kind in its own column
            for export in ("Chart spec (JSON)", "PNG", "SVG"):  # each chart: its spec, and as an image
                assert downloads.count(export) == len(charts), (name, export, downloads)
    _tab(at, "Speed & energy")
    captions = " ".join(c.value for c in at.caption)
    assert "Intel(R) Xeon(R) Platinum 8480+" in captions and "estimate" in captions
    assert "fake-test-data" in captions  # the clip_source of the rows
    failed = [d for d in at.dataframe if "status" in d.value.columns]
    assert failed and failed[0].value["status"].tolist() == ["oom"]


def test_explore_filters_change_the_charts_data(env):
    at = _tab(_open("explore"), "Speed & energy")
    before = {t: d for t, d in _charts(at)}
    assert before["Latency per utterance"]["model"].nunique() == 3
    at.multiselect(key="model").set_value(["openai/whisper-base"])
    at.multiselect(key="device").set_value(["cpu"]).run()
    _clean(at)
    after = {t: d for t, d in _charts(at)}
    for title, data in after.items():
        if "model" in data.columns:
            assert set(data["model"]) == {"openai/whisper-base"}, title
        if "device" in data.columns:
            assert set(data["device"]) == {"cpu"}, title
    assert len(after["Latency per utterance"]) < len(before["Latency per utterance"])


def test_explore_link_reopens_the_view_and_ignores_stale_values(env):
    at = _open_link("explore", {"model": ["openai/whisper-base", "gone/model"], "device": "cpu", "size": "8",
                                "tradeoff_clips": "30s", "cost": "energy per audio second", "batch": "999"})
    assert at.multiselect(key="model").value == ["openai/whisper-base"]  # the stale model is dropped
    assert at.multiselect(key="device").value == ["cpu"]
    assert at.multiselect(key="batch").value == [1, 8, 32]  # no such batch size: the filter keeps its default
    board = at.dataframe[0].value
    assert set(board["model"]) == {"openai/whisper-base"} and set(board["device"]) == {"cpu"}
    charts = dict(_charts(_tab(at, "Speed & energy")))
    assert at.selectbox(key="size").value == 8
    assert set(charts["Latency per utterance"]["model"]) == {"openai/whisper-base"}
    assert set(charts["Latency per utterance"]["batch_size"]) == {8}
    charts = dict(_charts(_tab(at, "Trade-offs")))
    assert at.selectbox(key="tradeoff_clips").value == "30s"
    assert any(title.startswith("WER vs energy per audio second (30s clips)") for title in charts), list(charts)


def test_explore_leaderboard_has_a_row_per_configuration_and_one_batch_size_control(env):
    at = _open("explore")
    board = at.dataframe[0].value
    assert {"model", "runtime", "WER (%)", "RTF", "J per audio s", "energy source", "runs"} <= set(board.columns)
    assert len(board) == len(board.drop_duplicates(["model", "runtime", "weights", "precision", "device", "batch",
                                                    "clips"]))
    assert {"min per audio h", "Wh per audio h", "g CO2e per audio h", "€ electricity per audio h",
            "per-hour kind"} <= set(board.columns)
    assert set(board["per-hour kind"]) == {"time measured · energy estimate"}  # the CPU estimate stays one
    sidebar = ["Grid (for CO2e)", "Electricity price", "Machine price per hour"]
    assert [s.label for s in at.selectbox] == sidebar
    controls = {name: [s.label for s in _tab(at, name).selectbox if s.label not in sidebar] for name in EXPLORE_TABS[1:7]}
    assert controls == {"Per audio hour": ["Batch size"], "Accuracy": [], "Speed & energy": ["Show batch size"],
                        "Trade-offs": ["Cost", "Clip length"], "Batch size & compute": ["Clip length"],
                        "Stages": ["Clip length"]}


def test_explore_synthetic_only_explains_the_missing_wer(env):
    at = _open("explore")
    at.multiselect(key="weights").set_value(["synthetic"]).run()
    _tab(at, "Accuracy")
    assert any("No WER to show" in i.value for i in at.info)
    assert not any(t.startswith("WER by") for t, _ in _charts(at))


def test_explore_empty_state_explains_how_to_run_a_sweep(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(tmp_path / "empty"))
    at = _open("explore")
    assert any("No sweep results yet" in i.value for i in at.info)
    command = " ".join(at.code[0].value.replace("\\", " ").split())
    assert command == ("asr-profile sweep --clips ../shared/speech/librispeech-dev-clean-3752-4944 --models "
                       "openai/whisper-tiny --weights synthetic --devices cpu --out precomputed/my-sweep.parquet")
    assert not _charts(at)


def test_explore_uploaded_csv_is_charted_and_a_bad_file_is_reported(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(tmp_path / "empty"))
    at = _open("explore")
    csv = fake_sweep().to_csv(index=False).encode()
    at.file_uploader(key="sweep_uploads").set_value([("mine.csv", csv, "text/csv"),
                                                     ("junk.parquet", b"junk", "application/octet-stream")]).run()
    _clean(at)
    assert any("junk.parquet" in e.value for e in at.error)
    assert len(at.dataframe[0].value) and _charts(_tab(at, "Speed & energy"))
    assert any("mine.csv" in c.value for c in at.caption)


# --- Uploads: bounded, checked, shown as text ---------------------------------------------------------

MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
INJECTED = "![x](http://example.invalid/x.png)"  # an image the browser would fetch if it were drawn


def _html(markdown: str) -> str:
    """What a Markdown renderer draws from a message: images and links show up as tags."""
    return MARKDOWN.render(markdown)


def _shown(markdown: str) -> str:
    """The text a reader sees."""
    return html.unescape(re.sub(r"<[^>]+>", "", _html(markdown))).strip()


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf)
    return buf.getvalue()


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def _upload(at, *files: tuple[str, bytes]):
    at.file_uploader(key="sweep_uploads").set_value([(n, d, "application/octet-stream") for n, d in files]).run()
    _clean(at)
    return at


def _with(column: str, row: int, value: float) -> pd.DataFrame:
    df = fake_sweep().astype({column: float})
    df.loc[row, column] = value
    return df


def test_explore_charts_an_upload_whose_model_name_no_file_can_have(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(tmp_path / "empty"))
    df = fake_sweep()
    df.loc[df["model"] == "openai/whisper-tiny", "model"] = LONG_NAME
    at = _upload(_tab(_open("explore"), "Speed & energy"), ("long.csv", _csv(df)))
    assert _charts(at) and not at.error


def test_explore_refuses_bad_uploads_in_one_sentence_and_keeps_earlier_data(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(tmp_path / "empty"))
    at = _upload(_tab(_open("explore"), "Speed & energy"), ("mine.csv", _csv(fake_sweep())))
    assert _charts(at) and not at.error
    _upload(at, ("inf.csv", _csv(_with("batch_size", 0, math.inf))), ("wer.parquet", _parquet(_with("wer", 2, -1.0))),
            ("latency.csv", _csv(_with("latency_per_utt_s", 1, -math.inf))), ("big.csv", b"x" * 26 * 2**20),
            ("junk.parquet", b"junk"))
    assert [_shown(e.value) for e in at.error] == [
        "inf.csv: batch_size must be a whole number ≥ 1, but row 1 has inf; fix that row or run the sweep again.",
        "wer.parquet: wer must be a finite number ≥ 0 or empty, but row 3 has -1.0; fix that row or run the sweep "
        "again.",
        "latency.csv: latency_per_utt_s must be a finite number ≥ 0 or empty, but row 2 has -inf; fix that row or "
        "run the sweep again.",
        "big.csv: 26.0 MiB is over the 25 MiB limit for a sweep file; split the sweep into smaller files.",
        "junk.parquet: could not be read as parquet (ArrowInvalid); check that it is a sweep file."]
    assert list(at.session_state[state.UPLOADS_KEY]) == ["mine.csv"]
    assert _charts(at) and any(_shown(c.value).startswith("129 rows from mine.csv.") for c in at.caption)


def test_explore_keeps_at_most_eight_uploads_and_forgets_them(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(tmp_path / "empty"))
    small = _csv(fake_sweep().head(3))
    at = _upload(_open("explore"), *[(f"s{i}.csv", small) for i in range(state.MAX_UPLOADS + 1)])
    assert list(at.session_state[state.UPLOADS_KEY]) == [f"s{i}.csv" for i in range(8)]
    assert [_shown(e.value) for e in at.error] == [
        "s8.csv: not added, because this session already holds 8 uploaded sweep files; press “Forget uploaded "
        "files” first."]
    _button(at, state.FORGET).click().run()
    _clean(at)
    assert at.session_state[state.UPLOADS_KEY] == {}  # and the files still in the uploader are not read again
    assert any(i.value.startswith("No sweep results yet") for i in at.info)


def test_explore_caps_the_rows_a_session_uploads_and_shares_them_with_no_other(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(state, "MAX_UPLOADED_ROWS", 200)
    at = _upload(_open("explore"), ("a.csv", _csv(fake_sweep())), ("b.csv", _csv(fake_sweep())))
    assert list(at.session_state[state.UPLOADS_KEY]) == ["a.csv"]
    assert [_shown(e.value) for e in at.error] == [
        "b.csv: not added, because this session's uploads would then hold 258 rows, over the 200-row limit; press "
        "“Forget uploaded files” first."]
    other = _open("explore")  # another browser session
    assert any(i.value.startswith("No sweep results yet") for i in other.info) and not _charts(other)


def test_explore_and_recommend_show_markdown_from_files_as_text(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(tmp_path / "empty"))
    model = f"**{INJECTED}**"
    sweep = fake_sweep().replace({"model": {"openai/whisper-tiny": model}}).assign(clip_source=f"[a]({INJECTED})")
    name = f"{INJECTED}.parquet"
    at = _upload(_open("explore"), (name, _parquet(sweep)), (f"{INJECTED}.csv", b"model\n<img src=x>\n"))
    messages = [m.value for m in (*at.caption, *at.error)]
    assert messages and not [m for m in messages if "<img" in _html(m) or "<a " in _html(m) or "<strong>" in _html(m)]
    shown = [_shown(m) for m in messages]
    assert f"Uploaded this session: {name}" in shown
    assert any(s.startswith(f"129 rows from {name}. Clips come from: [a]({INJECTED})") for s in shown)
    assert any(s.startswith(f"{INJECTED}.csv: missing column(s) device") for s in shown)
    at.switch_page("pages/recommend.py").run()
    _clean(at)
    pick = _details(at)
    assert _shown(pick).startswith(f"Pick: {model_label(model)} (transformers, pretrained weights")
    assert "<img" not in _html(pick) and _html(pick).count("<strong>") == 1  # only the page's own "Pick:"
    assert "<img" not in _html(_sentence(at)) and "<strong>" not in _html(_sentence(at))


def test_session_runs_keep_the_last_fifty():
    from streamlit.testing.v1 import AppTest

    def script():
        from asr_app import state
        from asr_core.results import Result
        for i in range(state.MAX_RUNS + 10):
            state.add_runs(f"clip {i}", [Result("m", "whisper", "synthetic", "cpu", "fp32")])

    at = AppTest.from_function(script, default_timeout=TIMEOUT_S).run()
    _clean(at)
    labels = [clip for clip, _ in at.session_state[state.RUNS_KEY]]
    assert labels == [f"clip {i}" for i in range(10, 60)]
    assert [clip for clip, _ in at.session_state[state.LAST_KEY]] == ["clip 59"]


def test_upload_reading_is_not_cached_and_every_cache_is_bounded():
    from streamlit.runtime.caching.cache_utils import CachedFunc
    cached = {name: f._info for name, f in vars(state).items() if isinstance(f, CachedFunc)}
    assert cached and all(info.max_entries or info.ttl for info in cached.values()), cached
    assert {"aggregated", "price_table", "published_costs", "cost_model", "projections"} <= {
        getattr(info.func, "__name__", "") for info in cached.values()}  # Explore's aggregates and tables, bounded
    reads = []

    class Upload:  # what the uploader hands over: the same file, uploaded twice
        name = "sweep.csv"

        def getvalue(self) -> bytes:
            reads.append(self.name)
            return fake_sweep().to_csv(index=False).encode()
    tables: dict = {}
    assert state._take_upload(tables, Upload()) == "" and state._take_upload({}, Upload()) == ""
    assert reads == ["sweep.csv"] * 2 and len(tables["sweep.csv"]) == len(fake_sweep())  # read each time, kept


# --- Recommend -------------------------------------------------------------------------------------

def _details(at) -> str:
    """The Recommend page's details (in the expander under its one plain sentence)."""
    return next(m.value for m in at.markdown if m.value.startswith("**Pick:**"))


def test_recommend_picks_for_each_use_case(env):
    at = _open("recommend")
    assert _sentence(at).startswith("Short voice commands on a CPU: whisper-tiny — ")  # the sentence first
    assert "RTF" not in _sentence(at) and "**Pick:** openai/whisper-tiny" in _details(at)
    assert " Wh and €0.0" in _sentence(at) and "per hour of audio (estimated)" in _sentence(at)  # the hour, in money
    assert "\u00a0%" in at.markdown[0].value  # '5.0 %' never breaks before its unit on a projector
    at.selectbox(key="use_case").set_value("Offline lectures").run()
    _clean(at)
    assert "lowest WER" in _details(at)
    assert any(t.startswith("Candidates: WER vs") for t, _ in _charts(at))
    assert at.dataframe[0].value["model"].iloc[0] in _details(at)


def test_recommend_impossible_constraints_say_what_is_closest(env):
    at = _open("recommend")
    at.number_input(key="max_latency").set_value(0.001).run()
    _clean(at)
    assert not any(m.value.startswith("**Pick:**") for m in at.markdown)
    assert any("Nothing to recommend" in w.value and "closest" in w.value for w in at.warning)


def test_recommend_link_reopens_the_use_case_and_its_constraints(env):
    at = _open_link("recommend", {"use_case": "Offline lectures", "rec_device": "cuda", "use_max_rtf": "true",
                                  "max_rtf": "0.5", "objective": "no-such-objective"})
    assert at.selectbox(key="use_case").value == "Offline lectures"
    assert at.selectbox(key="rec_device").value == "cuda"
    assert at.selectbox(key="objective").value == "wer"  # the preset's, the stale value ignored
    assert at.checkbox(key="use_max_rtf").value and at.number_input(key="max_rtf").value == 0.5
    assert " on a GPU: " in _sentence(at) and "cuda" in _details(at)
    assert set(at.dataframe[0].value["device"]) == {"cuda"}


def test_recommend_a_preset_limit_can_be_dropped(env):
    at = _open("recommend")
    assert at.checkbox(key="use_max_latency").value and at.number_input(key="max_latency").value == 1.0
    at.number_input(key="max_latency").set_value(0.001).run()
    assert any("Nothing to recommend" in w.value for w in at.warning)
    at.checkbox(key="use_max_latency").uncheck().run()
    _clean(at)
    assert not at.warning and _details(at) and at.number_input(key="max_latency").disabled
    at.selectbox(key="use_case").set_value("Edge devices").run()
    _clean(at)
    assert at.number_input(key="max_memory_mib").value == pytest.approx(1024.0)
    assert not at.checkbox(key="use_max_latency").value and at.number_input(key="max_latency").value is None


def test_recommend_without_data_explains(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(tmp_path / "empty"))
    at = _open("recommend")
    assert any("Nothing to recommend from" in i.value for i in at.info)


# --- Accuracy: measured and published (the shipped sweep and published table) ---------------------

@pytest.fixture
def shipped(monkeypatch, tmp_path):
    """The shipped CPU sweep and published table in a precomputed folder of their own."""
    import shutil
    pre = tmp_path / "shipped"
    pre.mkdir()
    for name in ("cpu.parquet", "published.csv"):
        shutil.copy(ROOT / "precomputed" / name, pre / name)
    monkeypatch.setenv("ASR_PRECOMPUTED_DIR", str(pre))
    monkeypatch.setenv("ASR_CLIP_CACHE", str(tmp_path / "no-clip-cache"))
    return pre


def test_recommend_ranks_on_one_published_source_by_default(shipped):
    at = _open("recommend")
    assert at.selectbox(key="accuracy").value == "published LibriSpeech test-clean (Radford et al. 2022)"
    at.selectbox(key="use_case").set_value("Offline lectures").run()
    _clean(at)
    assert _shown(_sentence(at)).startswith(
        "Offline lectures on a CPU: whisper-medium — about as fast as real time, ")
    assert _shown(_sentence(at)).endswith("WER 2.9 % (published, LibriSpeech test-clean)")
    table = at.dataframe[0].value
    assert table["WER source"].str.contains("Radford et al. 2022").all()  # one source ranks every row
    tiny_en = table[table["model"] == "whisper-tiny.en (local)"].iloc[0]
    assert tiny_en["WER (%)"] == pytest.approx(5.6) and tiny_en["measured WER (%)"] < 5.6  # measured beside
    assert any(_shown(c.value).startswith("⚠ Not ranked (no WER from the source, published LibriSpeech test-clean "
                                          "(Radford et al. 2022)): facebook/wav2vec2-base-960h") for c in at.caption)
    at.selectbox(key="accuracy").set_value(
        "published LibriSpeech test-clean (Hugging Face Open ASR Leaderboard)").run()
    _clean(at)
    pick = _shown(_details(at))
    assert pick.startswith("Pick: openai/whisper-large-v3-turbo (transformers, synthetic weights")
    assert "Cost: measured on AMD EPYC (cpu); accuracy: published LibriSpeech test-clean WER of " \
           "openai/whisper-large-v3-turbo (Hugging Face Open ASR Leaderboard" in pick
    at.selectbox(key="accuracy").set_value("measured here").run()
    _clean(at)
    assert _shown(_details(at)).startswith("Pick: whisper-tiny.en (local)")


def test_explore_draws_published_wer_beside_measured(shipped):
    at = _tab(_open("explore"), "Accuracy")
    title, data = next((t, d) for t, d in _charts(at) if t.startswith("WER by clip length"))
    spec = next(s for s in _specs(at) if s["title"]["text"].startswith("WER by clip length"))
    marks = [layer["mark"] for layer in spec["layer"]]
    assert {"type": "point", "shape": "diamond", "filled": False, "size": 120, "strokeWidth": 2} in marks
    # every diamond has a legend entry: the published checkpoints of models measured on synthetic weights too
    legend = spec["layer"][-1]["encoding"]["color"]["legend"]["values"]
    assert {"openai/whisper-small (published)", "openai/whisper-medium (published)"} <= set(legend)
    assert spec["layer"][0]["encoding"]["x"]["axis"]["labelOverlap"] is False
    captions = [_shown(c.value) for c in at.caption]
    assert any(c.startswith("Hollow diamonds are published WER") and "published: " in c and "Radford et al. 2022" in c
               for c in captions)


# --- Cost per audio hour and CPU vs GPU (issues 23, 24) ---------------------------------------------------------

def _tooltip_fields(spec: dict) -> set[str]:
    layers = spec.get("layer", [spec])
    return {t.get("field") for layer in layers for t in layer.get("encoding", {}).get("tooltip", [])}


def test_explore_per_audio_hour_shows_each_figures_kind_and_sources(env):
    at = _tab(_open("explore"), "Per audio hour")
    assert at.get("button_group")[0].value == "hour_energy_wh"  # Wh per hour of audio first
    (title, data), = _charts(at)
    assert title == "Wh per hour of audio" and set(data["hour_energy_kind"]) == {"estimate"}
    assert {"hour_energy_kind", "hour_sources", "energy_source"} <= _tooltip_fields(_specs(at)[0])
    assert data["hour_sources"].str.contains("eu-household, as of 2025-S1").all()
    captions = " ".join(_shown(c.value) for c in at.caption)
    assert "Eurostat" in captions and "an estimated energy gives an estimated CO2e and cost" in captions


def test_explore_link_keeps_the_grid_and_price_picker(env):
    at = _open_link("explore", {"grid": "Germany", "electricity": "eu-non-household", "instance": "aws-t3.large",
                                "price_kwh": "", "live": "true"})
    assert at.selectbox(key=share.GRID).value == "DEU" and at.selectbox(key=share.INSTANCE).value == "aws-t3.large"
    assert at.selectbox(key=share.ELECTRICITY).value == "eu-non-household" and at.toggle(key=share.LIVE).value
    board = at.dataframe[0].value
    assert {"$ machine per audio h", "€ electricity per audio h"} <= set(board.columns)
    at.text_input(key=share.PRICE_KWH).set_value("cheap").run()  # a typed price that cannot be used: one sentence
    _clean(at)
    assert [_shown(w.value) for w in at.warning] == [
        "The electricity price per kWh 'cheap' is neither a number nor a price in the table: give a price per kWh "
        "such as 0.25, or one of eu-household, eu-non-household. The table's prices are used meanwhile."]
    assert len(at.dataframe[0].value) == len(board)  # the figures stay


def test_explore_cpu_vs_gpu_labels_projected_figures_and_names_their_error(env):
    at = _tab(_open("explore"), "CPU vs GPU")
    assert at.multiselect(key=share.HW_DEVICES).value == ["this-cpu", "T4", "A100-80GB", "H100-SXM"]
    charts = dict(_charts(at))
    minutes = next(d for t, d in charts.items() if t.startswith("Minutes of processing per hour of audio"))
    assert {"measured", "projected"} <= set(minutes["kind"])
    spec = next(s for s in _specs(at) if s["title"]["text"].startswith("Minutes of processing per hour of audio"))
    assert any(line == "Projected on T4, A100-80GB, H100-SXM: error unknown: no measured or published transformers figure on a GPU to check it against"
               for line in spec["title"]["subtitle"])
    assert {"kind", "validation_error", "source"} <= _tooltip_fields(spec)
    table = next(d.value for d in at.dataframe if "kind" in d.value.columns)
    projected = table[table["kind"] == "projected"]
    assert len(projected) and set(projected["minutes_per_audio_h_kind"]) == {"projected"}
    assert any("No GPU measurements yet" in m.value for m in at.markdown)
    assert any(b.label.startswith("Download this table (CSV") for b in at.get("download_button"))


def test_recommend_answers_a_gpu_from_projections_and_says_so(shipped):
    at = _open_link("recommend", {"use_case": "Offline lectures", "rec_device": "T4 (projected)"})
    assert _shown(_sentence(at)).startswith("Offline lectures (custom) on the NVIDIA T4 (projected): ")
    assert "per hour of audio (projected)" in _sentence(at)
    assert set(at.dataframe[0].value["cost"]) == {"projected"}
    captions = [_shown(c.value) for c in at.caption]
    assert any(c.startswith("⚠ Projected on the NVIDIA T4 (16 GB PCIe); the cost model's error unknown") for c in captions)
    assert any("No GPU measurements yet" in c for c in captions)
    at.selectbox(key=share.DEVICE).set_value("any").run()  # back to the sweep: measured only, unless asked
    _clean(at)
    assert set(at.dataframe[0].value["cost"]) == {"measured"}
    at.toggle(key=share.MIX_KINDS).set_value(True).run()
    _clean(at)
    assert set(at.dataframe[0].value["cost"]) == {"measured", "projected"}
    assert any("ranked together as asked" in _shown(c.value) for c in at.caption)
