"""Not a page of its own (st.navigation lists the pages): the Live captions panel the Transcribe page lays out
when its toggle is on. Speak, and the words appear, the tentative ones greyed; beside them the lag, the model's
busy share and the power; after Stop, the end card. The logic is asr_app.captions; the microphone,
state.microphone."""
from pathlib import Path

import streamlit as st

from asr_app import captions, choices, configs, inputs, live, model_access, present, state
from asr_app.captions import Captioner
from asr_core.errors import USER_ERRORS
from asr_core import stream_session
from asr_core.stream_session import BARELY, KEEPS_UP

TOGGLE_KEY = "live-captions"
MIC_KEY = "live-mic"
TINY_EN = "openai/whisper-tiny.en"  # the default where no checkpoint is beside the repository


def toggle() -> bool:
    return st.toggle("Live captions: speak, see the words", key=TOGGLE_KEY,
                     help="Streams your microphone to the model while you speak; the words appear a second or "
                          "two later, with what keeping up costs beside them.")


def settings(root: Path, locked: bool) -> configs.RunRequest:
    """Model, runtime, precision and device in one row; only what can run here is offered (locked: listening)."""
    local = model_access.local_checkpoints(root)
    options = model_access.model_options(root)
    c1, c2, c3, c4 = st.columns([3, 2, 2, 1])
    model = c1.selectbox("Model", options, index=options.index(local[0] if local else TINY_EN),
                         format_func=inputs.model_label, key="live-model", disabled=locked)
    runtimes = [r for r, why in choices.runtime_problems([model]).items() if not why]
    runtime = c2.selectbox("Runtime", runtimes, key="live-runtime", disabled=locked, help="How the model is run; the same weights.")
    devices = [d for d, why in choices.device_problems().items() if not why]
    device = c4.selectbox("Device", devices, index=devices.index(choices.default_device()), key="live-device", disabled=locked)
    precisions = [p for p, why in choices.precision_problems(device, runtime).items() if not why]
    precision = c3.selectbox("Precision", precisions, key="live-precision", disabled=locked)
    return configs.RunRequest(model, device, precision, "pretrained", 1, runtime)


def prepare(captioner: Captioner, request: configs.RunRequest, root: Path) -> bool:
    """Load the model and time one decode (once per choice); say whether it keeps up. False: it cannot run."""
    why = captions.problems(request) + choices.weights_warnings([request.model_id], "pretrained",
                                                                state.pretrained_problem_cached)
    if why:
        st.warning(" ".join(why))
        return False
    if captioner.request != request:
        with st.spinner(f"Loading {inputs.model_label(request.model_id)} and timing one decode…"):
            try:
                model = live.load_exclusive(state.model, request)
                captioner.prepare(request, model, captions.probe_audio(str(root)), state.session_owner())
            except USER_ERRORS as exc:
                st.error(inputs.public_message(str(exc), root))
                return False
            except Exception as exc:  # noqa: BLE001 - a bug in one runtime: one sentence, not a traceback
                st.error(inputs.public_message(f"{inputs.model_label(request.model_id)} could not be prepared with "
                                               f"{request.runtime} ({type(exc).__name__}): {exc}", root))
                return False
    said = present.plain(" ".join(filter(None, [captioner.outlook.sentence,
                                                captions.sweep_decode(state.precomputed_medians(root), request)])))
    if captioner.outlook.verdict in (KEEPS_UP, BARELY):
        st.caption(said)
    else:
        st.warning(said)
    return True


def captions_area(captioner: Captioner, playing: bool) -> None:
    """Lag, busy share and power above the captions, refreshed twice a second while listening."""
    @state.fragment(run_every=captions.POLL_S if playing else None)
    def refresh() -> None:
        view = captioner.view()
        if view is not None:
            figures_row(captions.live_figures(view, captioner.options.step_s))
        empty = captions.LISTENING if playing else captions.NOT_LISTENING
        st.markdown(captions.caption_html(view.stream.confirmed if view else "", view.stream.tentative if view else "",
                                          empty), unsafe_allow_html=True)
        for warning in captions.warnings(view, captioner.options) if view else []:
            st.warning(warning)
    refresh()


def figures_row(figures) -> None:
    with st.container(horizontal=True):
        for fig in figures:
            st.metric(fig.label, fig.value, help=fig.help or None, width="content")


def end_card(record, costs) -> None:
    with st.container(border=True, key="live-end-card"):
        st.markdown("**" + present.plain(captions.end_summary(record)) + "**")
        st.markdown(present.plain(captions.end_hour(record, costs)))
        figures_row(captions.end_figures(record))
        if sentence := captions.offline_sentence(record):
            st.caption(present.plain(sentence))
        with st.expander("Streamed and offline transcripts"):
            st.markdown(f"**Streamed:** {present.plain(record.text) or '(no words)'}")
            st.markdown(f"**Offline:** {present.plain(record.offline_text) or '(no words)'}")


def show(root: Path, costs) -> None:
    """The panel: settings, whether the model keeps up, Start/Stop listening, the captions, the end card (its hour
    in the grid and prices of the sidebar's picker, costs)."""
    captioner = state.captioner()
    request = settings(root, captioner.listening)
    if not prepare(captioner, request, root):
        return
    mic, typed = st.columns([1, 2])
    with mic:
        playing = state.microphone(MIC_KEY, captioner.on_frame, captioner.on_ended)
    if playing:
        captioner.arm()
    reference = typed.text_input("What you will read (optional: for WER)", key="live-reference")
    if not playing and captioner.listening:
        with st.spinner("Finishing: the last words, then the same audio transcribed offline for comparison…"):
            captioner.stop(reference)
    if captioner.error:
        st.error(present.plain(captioner.error))
    if captioner.record is not None and not playing:
        end_card(stream_session.scored(captioner.record, reference), costs)  # a reference typed after Stop counts too
    else:
        captions_area(captioner, playing)
