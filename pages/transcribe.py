"""Transcribe: run models live on one clip, watch the power, compare transcripts and costs."""
import math
from contextlib import closing
from pathlib import Path

import streamlit as st

from asr_core import hourly
from asr_core.audio import duration_s
from asr_core.clips import default_cache_dir
from asr_core.errors import AudioError, ClipSourceError
from asr_core.models import COMPILED, PRECISIONS, RUNTIMES, WEIGHTS
from asr_core.output_checks import SILENCE_NOTE, nearly_silent
from asr_core.scoring import word_errors

from asr_app import (charts, choices, compare, configs, figures, history, hour_card, inputs, live, model_access, present,
                     projected, state)
from pages import captions_panel, hour_picker

state.through_navigation(__file__)

ROOT = Path(__file__).resolve().parents[1]
CACHE, UPLOAD, MIC, FOLDER = "Clips by length (TED-LIUM)", "Upload a file", "Microphone", "Sample folder"
OTHER_FOLDER = "Another folder…"
NOISE_LEVELS = [0.0, 5.0, 10.0, 20.0, math.inf]  # SNR in dB, noisiest first; inf: the clip as recorded
FOLDER_HELP = (f"A folder inside one of the listed ones, the clip cache or a folder the operator named in "
               f"{inputs.SAMPLE_FOLDERS_ENV}: absolute, or relative to the app's repository folder.")
RESULT_COLUMNS = 4  # results side by side at most; more wrap to the next line
RESULTS_KEY = "results"  # the results' container: class mode scrolls it into view when a run ends
SESSION_CHARTS = {"latency_per_utt_s": "Latency per utterance, run by run",
                  "energy_per_utt_j": "Energy per utterance, run by run"}
DIFF_LEGEND = ("Orange: substituted (reference word struck through) · blue: inserted · red: deleted. "
               "Both texts are normalised (case, punctuation, numbers) before comparing.")
WORD_ERRORS = "Which words were wrong"


def cached_clip():
    cache = default_cache_dir(ROOT)
    clips = state.cached_clips(str(cache))
    if not clips:
        st.info(f"No clips in {inputs.cache_name(cache, ROOT)} yet. Build it with `asr-profile prefetch` "
                f"(downloads TED-LIUM dev once), or choose **{FOLDER}** or **{UPLOAD}** above.")
        return None
    groups = inputs.clips_by_bucket(clips)
    bucket = st.segmented_control("Length", list(groups), default=next(iter(groups)), required=True, key="bucket")
    clip = st.selectbox("Clip", groups[bucket], format_func=inputs.clip_label, key=f"clip-{bucket}")
    st.caption(f"Talk **{clip.talk}** · {clip.duration_s:.1f} s ({clip.start_s:.1f}–{clip.end_s:.1f} s "
               f"into the talk) · {clip.source}")
    st.audio(clip.path)
    return state.decode_file(clip.path), clip.reference, f"{clip.source}:{clip.clip_id}"


def uploaded_clip():
    f = st.file_uploader("Audio file", type=list(inputs.UPLOAD_TYPES), key="upload")
    if f is None:
        return None
    audio = state.decode(f.getvalue(), f.name)  # first: a file that does not decode gets no player
    st.audio(f.getvalue(), format=f.type or "audio/wav")
    return audio, "", f.name


def microphone_clip():
    rec = st.audio_input("Record a clip", key="mic")
    if rec is None:
        return None
    return state.decode(rec.getvalue(), "the microphone recording"), "", "microphone"


def folder_clip():
    choice = st.selectbox("Folder", [*inputs.sample_folders(ROOT), OTHER_FOLDER], key="folder",
                          format_func=lambda f: f if f == OTHER_FOLDER else inputs.folder_label(f, ROOT))
    if choice == OTHER_FOLDER:
        choice = st.text_input("Folder path", key="folder_path", help=FOLDER_HELP,
                               placeholder="a folder of FLAC/WAV with *.trans.txt or a manifest.csv").strip()
    if not choice:
        return None
    folder = inputs.allowed_folder(choice, ROOT)
    name = inputs.folder_label(folder, ROOT)  # widget keys reach the browser: no server path in them
    utt = st.selectbox("Utterance", state.folder_utterances(str(folder)), format_func=inputs.utterance_label,
                       key=f"utt-{name}")
    st.audio(utt.path)
    return state.decode_file(utt.path), utt.text, f"{folder.name}:{utt.utt_id}"


def show_result(shown, medians, class_mode: bool, costs, published, filler) -> None:
    """One configuration's result: the hour it stands for (in class mode large), its figures (each beside what the
    precomputed sweep measured for the same configuration), its transcript, and what an H100 would do (projected)."""
    r = shown.result
    st.markdown(f"**{present.plain(shown.label)}**")
    if not class_mode:
        st.caption(configs.config_of(r).settings)
    if stopped := compare.stopped_text(shown):
        st.warning(stopped)
    if r.status != "ok" and not (r.status == "cancelled" and r.n_clips):
        if r.status != "cancelled":
            st.error(r.error)
        return
    hour = hour_card.card_hour(r, costs)
    sweep = compare.sweep_row(medians, r)
    shown_figures = compare.with_sweep(figures.result_figures(r, filler.pending(r), compare.published_wer(published, r)),
                                       sweep)
    if class_mode:  # the hour's figures and the WER first, large, where the back row looks
        st.markdown(present.plain(hour_card.heading(hour)))
        show_figures([*hour_card.hour_figures(hour), *compare.headline(shown_figures)])
    else:
        st.markdown(f"**{present.plain(hourly.sentence(hour))}**")
    with st.popover("What the hour assumes", type="tertiary", icon=":material/info:"):
        for paragraph in hour_card.assumptions(hour, r):
            st.markdown(present.plain(paragraph))
    st.markdown(present.plain(present.summary(r, inputs.model_label(r.model))))
    if spread := compare.spread_text(shown.runs):
        st.markdown(present.plain(spread))
    show_transcript(r, class_mode)
    if not class_mode:
        show_figures(shown_figures)
    show_projection(r)
    st.caption(" ".join(filter(None, [figures.batch_totals(r), present.hardware([r.cpu_name], [r.gpu_name]),
                                      present.explain_sources([r.energy_source]), compare.sweep_caption(sweep, r),
                                      r.notes])))


def show_transcript(r, class_mode: bool) -> None:
    """The model's own text; the word errors (both texts normalised) beneath it, in class mode a click away."""
    if r.weights == "synthetic":
        st.info(figures.SYNTHETIC_NOTE)
        return
    st.markdown(f"> {present.plain(r.hypotheses[0]) or '(no words recognised)'}")
    if not r.references:
        st.caption("No reference text: no WER.")
        return
    with st.expander(WORD_ERRORS) if class_mode else st.container():
        st.markdown(present.diff_html(word_errors(r.references[0], r.hypotheses[0])), unsafe_allow_html=True)
        st.caption(DIFF_LEGEND)


def show_projection(r) -> None:
    """'On an H100 (projected): …' under the measured figures, how it was projected a click away."""
    line = projected.h100_line(r)
    if line is None:
        return
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.caption(present.plain(line.text))
        with st.popover("How it was projected", type="tertiary", icon=":material/info:"):
            st.markdown(line.how)


def show_figures(shown) -> None:
    """Figures side by side, each above what the sweep measured there and a word on where it came from."""
    with st.container(horizontal=True):
        for fig in shown:
            with st.container(width="content", gap=None):
                st.metric(fig.label, fig.value, help=fig.help or None, width="content")
                for beneath in (fig.sweep, fig.note):
                    if beneath:
                        st.caption(beneath)


def power_chart(traces, sources, spans, class_mode: bool):
    """The power during the runs, the warm-up shaded; in class mode with type the back row can read, and short
    enough to stay in view beside the Run button."""
    return charts.sized(charts.power_chart(charts.power_frame(traces, sources), spans), class_mode,
                        charts.CLASS_POWER_PX)


def follow(events, compiles: bool, status_slot, power_slot, class_mode: bool) -> None:
    """Draw each event of a live run: the status line with progress, the power chart with the warm-up shaded."""
    failed = False
    with status_slot.status("Starting…", expanded=False) as status, closing(events):
        for event in events:
            name = present.plain(event.name)
            if event.kind == "waiting":
                status.update(label=f"Waiting for {event.waiting_for} to finish on {event.request.device}…")
            elif event.kind == "loading":
                status.update(label=f"Loading {name}…")
            elif event.kind == "power":
                waiting = f" (waiting for {event.waiting_for})" if event.waiting_for else ""
                status.update(label=figures.progress_text(event.progress, name, compiles) + waiting)
                power_slot.altair_chart(power_chart(event.traces, event.sources, event.spans, class_mode))
            else:
                st.write(f"{name}: " + figures.outcome_text(event.result))
                failed = failed or event.kind == "error"
        status.update(label="Finished" + (" with errors" if failed else ""),
                      state="error" if failed else "complete", expanded=False)


class_mode = state.class_mode()
with st.sidebar.expander("Grid and prices (the cost per hour of audio)"):  # the same picker, in the URL, as Explore's
    costs = hour_picker.show()
st.html(present.TRANSCRIBE_CSS)
if class_mode:
    st.html(present.TRANSCRIBE_CLASS_CSS)
# the captions toggle beside the title, above the run's column: a row of its own would push the power chart below
# a projector's 720 px while a run goes
heading, captions_switch = st.columns([3, 2], gap="large", vertical_alignment="bottom")
heading.title("Transcribe")
with captions_switch:
    captions_on = captions_panel.toggle()
if captions_on:  # live captions from the microphone instead of a clip
    captions_panel.show(ROOT, costs)
    st.stop()
# on a phone the live run stacks below the settings; in class mode it gets half the width, for its buttons in two rows
settings, live_run = st.columns([1, 1] if class_mode else [3, 2], gap="large")

# --- 1. the clip -----------------------------------------------------------------------------------
with settings:
    st.subheader("1 · Choose a clip")
    try:
        has_cache = bool(state.cached_clips(str(default_cache_dir(ROOT))))
    except ClipSourceError:
        has_cache = True  # the cache source then says what is wrong with it
    sources = [CACHE, UPLOAD, MIC, FOLDER]
    default = 0 if has_cache else 3 if inputs.sample_folders(ROOT) else 1
    source = st.container(key=present.EXPERT_KEY + "-source").radio(  # class mode: the picker alone
        "Clip source", sources, index=default, horizontal=True, key="source", label_visibility="collapsed")
    clip = None
    try:
        clip = {CACHE: cached_clip, UPLOAD: uploaded_clip, MIC: microphone_clip, FOLDER: folder_clip}[source]()
    except (AudioError, ClipSourceError) as exc:
        st.error(inputs.public_message(str(exc), ROOT))  # decoding errors name the file by its server path
    reference, clip_label, seconds, snr_db = "", None, 0.0, math.inf
    if clip is not None:
        audio, ref, clip_label = clip
        seconds = duration_s(audio)
        with st.container(key=present.EXPERT_KEY + "-reference"):  # class mode: the clip's own reference, unseen
            reference = st.text_area("Reference transcript (for WER; edit it or leave it empty)", value=ref,
                                     key=f"ref-{clip_label}", height=80)
            st.caption(f"{seconds:.1f} s of audio")
        snr_db = st.select_slider("Noise: hear it, then see the WER rise", NOISE_LEVELS, value=math.inf,
                                  format_func=live.noise_label, key="snr",
                                  help="White noise mixed into the clip at this signal-to-noise ratio (seeded).")
        heard = live.with_noise(audio, snr_db)  # the run mixes the same noise into the clean clip
        if math.isfinite(snr_db):
            st.audio(heard, sample_rate=16000)
        if nearly_silent(heard):
            st.caption(f"This clip is nearly silent: {SILENCE_NOTE}.")

# --- 2. models and settings ---------------------------------------------------------------------------
    st.subheader("2 · Models and settings")
    options = model_access.model_options(ROOT)
    local = model_access.local_checkpoints(ROOT)
    left, right = st.columns([2, 1])
    chosen = left.multiselect("Models", options, default=[choices.default_model(options, local)],
                              format_func=inputs.model_label, key="models", help=model_access.PICKER_HELP)
    other = right.container(key=present.EXPERT_KEY + "-model").text_input(
        "Another model (hub id or local folder)", key="other_model") if model_access.any_model_allowed() else ""
    typed, refused = model_access.typed_model(other, ROOT)
    if refused:
        st.error(refused)
    models = inputs.chosen_models(chosen, typed)
    if clip is not None and (note := figures.short_clip_note(models, seconds)):
        st.info(note)

    with st.container(key=present.EXPERT_KEY):  # class mode hides these (they keep their values)
        c1, c2, c3 = st.columns(3)
        devices = choices.device_problems()
        device = c1.radio("Device", choices.APP_DEVICES, index=choices.APP_DEVICES.index(choices.default_device()),
                          captions=[why or "available" for why in devices.values()], key="device")
        runtimes = choices.runtime_problems(models)
        runtime = c2.radio("Runtime", list(RUNTIMES), key="runtime",
                           help="How the model is run; the same weights in each.",
                           captions=[why or choices.RUNTIME_CAPTIONS.get(r, "") for r, why in runtimes.items()])
        precision = c3.radio("Precision", list(PRECISIONS), key="precision",
                             captions=choices.precision_captions(device, runtime))
        c4, c5 = st.columns(2)  # room for every batch size in one row
        batch_size = c4.segmented_control("Batch size", choices.BATCH_SIZES, default=1, required=True, key="batch",
                                          help="The clip is repeated to fill one batch of this size.")
        c4.caption("The clip repeated to fill one batch.")
        repeats = c4.number_input("Repeat each run", 1, choices.MAX_REPEATS, 1, key="repeats", width=160,
                                  help="Measure each configuration this many times: the results show the median "
                                       "and the spread (lowest–highest) of latency and energy.")
        weights = c5.radio("Weights", WEIGHTS, key="weights",
                           index=WEIGHTS.index(choices.weights_for(models[0], state.pretrained_problem_cached))
                           if models else 0,
                           captions=["trained: transcript and WER", "random, same shapes: timing only, no download"])
        for warning in choices.weights_warnings(models, weights, state.pretrained_problem_cached):
            st.warning(warning)
        current = [configs.RunRequest(m, device, precision, weights, batch_size, runtime) for m in models]
        if st.button("Add to the comparison", icon=":material/playlist_add:", disabled=not models,
                     help="Adds these settings, for each chosen model, as a row of its own: change the settings and "
                          "add again to compare, say, fp32 with int8 or real with synthetic weights in one run."):
            if refused := state.add_compare_rows(current):
                st.warning(refused)

    rows = state.compare_rows()
    if rows:
        st.markdown("**Compared in one run** (each row with its own settings; Run runs these rows)")
        for i, row in enumerate(rows):
            text, remove = st.columns([6, 1], vertical_alignment="center")
            text.markdown(f"{i + 1}. {present.plain(inputs.model_label(row.model_id))} · {row.settings}")
            remove.button("", key=f"remove-row-{i}", on_click=state.remove_compare_row, args=(i,), type="tertiary",
                          icon=":material/close:", help="Remove this row")
        st.button("Clear the list", on_click=state.clear_compare_rows, type="tertiary",
                  help="Run then runs the chosen models with the settings above again.")
    elif class_mode:
        st.caption(f"Run uses {current[0].settings if current else 'the chosen models'} (switch class mode off "
                   f"to change the settings), or press a ready comparison.")
requests = rows or current
problems = (choices.rows_problems(rows) if rows else choices.run_problems(models, device, precision, runtime, batch_size)) \
    + ([] if clip is not None else ["choose a clip"])

# --- 3. run: the buttons, the status line and the power chart together, in view while it runs --------------
with live_run:
    if not class_mode:  # class mode: the buttons say it, and the live chart below them gets the room
        st.subheader("3 · Run")
    ready = False  # a ready comparison was pressed: its rows are the list now (set by its callback), run them
    buttons = st.container(horizontal=True, key="ready-comparisons" if class_mode else None)
    if class_mode:  # the comparisons and Run in one row: the live chart below them stays in view
        small = local[0] if local else compare.SMALL_MODEL
        with buttons:
            for name, ready_rows in compare.ready_comparisons(
                    small, choices.default_device(), lambda m: choices.weights_for(m, state.pretrained_problem_cached),
                    choices.device_problems()["cuda"] is None).items():
                why = choices.rows_problems(ready_rows) + ([] if clip is not None else ["choose a clip"])
                if st.button(name, key=f"ready-{name}", on_click=state.set_compare_rows, args=(ready_rows,),
                             disabled=bool(why), help="; ".join(why) or compare.ready_help(ready_rows)):
                    ready = True
    run = buttons.button("Run", type="primary", disabled=bool(problems), icon=":material/play_arrow:") or ready
    if problems:
        st.caption("Cannot run yet: " + "; ".join(problems) + ".")
    status_slot, power_slot, export_slot = st.container(), st.empty(), st.container()
    guard = state.session_guard()
    if guard.busy:  # Stop or a second Run: the stopped run saves what finished first
        with status_slot, st.spinner("Stopping the previous run at its next batch boundary…"):
            guard.wait()
    state.save_kept(guard)
    if run:
        stop_slot = buttons.empty()
        stop_slot.button("Stop", icon=":material/stop:", key="stop",
                         help="Stops at the next batch boundary; what finished is kept and marked as stopped.")
        events = live.session_run(guard, state.session_owner(), clip_label, requests, audio, reference, state.model,
                                  snr_db, compare.READY_ROUNDS if ready else repeats,
                                  None if class_mode else state.flop_filler().submit)
        follow(events, any(r.runtime == COMPILED for r in requests), status_slot, power_slot, class_mode)
        stop_slot.empty()  # nothing left to stop
        state.save_kept(guard)

# results belong to the clip they were run on: a newly chosen clip starts without them
filler = state.flop_filler()
state.fill_in_flops(filler)  # FLOPs counted after the run since the last redraw
pairs = state.last_runs()
last = [r for label, r in pairs if label == clip_label]
if last:
    shown = compare.by_configuration(last, state.last_rounds())
    if not run:  # the live column says how the last run ended; its figures follow below
        status_slot.caption("Last run: " + " · ".join(f"{present.plain(s.label)} {figures.outcome_text(s.result)}"
                                                      for s in shown) + " (results below).")
    traces, meter_sources = history.traces_of(last)
    if traces:
        power = power_chart(traces, meter_sources, history.spans_of(last), class_mode)
        power_slot.altair_chart(power)
        with export_slot:
            state.chart_downloads(power, "power-during-the-run", "export-power")
    medians = state.precomputed_medians(ROOT)
    published = state.published_table(ROOT)[0]
    with st.container(key=RESULTS_KEY):
        st.subheader("Results")
        if verdict := compare.verdict(shown):
            st.markdown(present.plain(verdict))
        warning = compare.load_warning(shown)  # once for the whole run, not on every card …
        if warning and not class_mode:
            st.warning(warning)
        for start in range(0, len(shown), RESULT_COLUMNS):
            row_of = shown[start:start + RESULT_COLUMNS]
            for col, s in zip(st.columns(len(row_of), border=True), row_of):
                with col:
                    show_result(s, medians, class_mode, costs, published, filler)
        if warning and class_mode:  # … in class mode below the cards, whose figures come first on the screen
            st.warning(warning)
    if class_mode:
        state.scroll_into_view(RESULTS_KEY, " ".join(r.timestamp for r in last))
    state.rerun_when_counted(filler, last)
    stages = history.run_stages([s.result for s in shown])
    if not stages.empty:
        stage = charts.sized(charts.stage_chart(stages, title="Where the time goes (whole batch)", unit="seconds"),
                             class_mode)
        st.altair_chart(stage)
        state.chart_downloads(stage, "where-the-time-goes", "export-stages")
elif pairs:
    live_run.caption(f"The last run was on another clip ({present.plain(pairs[0][0])}): its results are in "
                     f"the table below.")

# --- the session's runs ---------------------------------------------------------------------------------
if state.runs():
    st.subheader("Runs this session")
    session = compare.session_frame(state.runs())
    if len(session):  # side by side; in class mode one under the other, their type large
        columns = [st.container()] * 2 if class_mode else st.columns(2)
        for col, (y, title) in zip(columns, SESSION_CHARTS.items()):
            with col:
                chart = charts.sized(charts.session_chart(session, y, title), class_mode)
                st.altair_chart(chart)
                state.chart_downloads(chart, title.lower().replace(" ", "-"), f"export-{y}")
    table = history.runs_table(state.runs())
    st.dataframe(history.display_runs(table), hide_index=True)
    with st.container(horizontal=True):
        st.download_button("Download CSV", history.runs_csv(table), "asr-runs.csv", "text/csv",
                           icon=":material/download:")
        st.button("Clear runs", on_click=state.clear_runs)
