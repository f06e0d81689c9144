"""Live captions on the Transcribe page: the microphone's frames to 16 kHz, one live session per browser
session, what the page shows while listening and on the end card, and whether a model keeps up.

The browser sends its microphone over WebRTC (streamlit-webrtc, the widget call in ``state.py``); each frame
arrives on the transport's thread at ``Captioner.on_frame``, is resampled and fed to a
``stream_session.LiveSession``, whose worker decodes while the page polls ``Captioner.view`` twice a second.
The policy, what is measured and its limits are ``asr_core.streaming`` and ``asr_core.stream_session``.
"""
from __future__ import annotations

import contextvars
import dataclasses
import html
import math
import threading
import time
from typing import Any

import numpy as np
import pandas as pd

from asr_core import hourly, stream_session
from asr_core.audio import SAMPLE_RATE, load_audio
from asr_core.buckets import bucket_seconds
from asr_core.locks import RUN_OWNER
from asr_core.stream_session import LiveSession, LiveView, Outlook, SessionRecord, decoder_for, outlook, probe
from asr_core.streaming import StreamOptions

from . import present
from .choices import run_problems
from .configs import RunRequest
from .figures import WER_HELP, Figure
from .hour_card import HERE
from .inputs import MODEL_NAME, folder_utterances, model_label, sample_folders

LISTENING = "Listening… speak, and the words appear here."
NOT_LISTENING = "Press Start listening (your browser asks for the microphone once), then speak."
J_PER_WH = 3600.0
POLL_S = 0.5  # the captions refresh twice a second while listening
ABANDONED_AFTER_S = 10.0  # a session whose microphone ended without the page stopping it (a closed tab) ends then
SHOWN_CHARS = 260  # the newest characters of the captions stay in view (five lines at 1280x720)
PROBE_NOISE_RMS = 0.05  # without sample speech, the probe decodes noise at about speech level
ICE_SERVERS: list[dict] = []  # localhost needs no STUN/TURN server: nothing is asked of the network
CAPTION_CSS = ("font-size:1.5rem;line-height:1.4;min-height:7em;padding:0.3em 0.6em;border-radius:0.5em;"
               "background:rgba(128,128,128,0.08)")
TENTATIVE_CSS = "opacity:0.45"
LAG_HELP = ("how long after you said a word it appeared: from the end of the audio of the first decode that heard "
            "it to the moment it was confirmed (a lower bound: the word itself may have ended up to one step, "
            "{step:g} s, earlier)")
BUSY_HELP = ("seconds the model spent decoding / seconds of the session: at 100 % it never rests, and the captions "
             "fall further behind")
SKIPPED_HELP = ("audio dropped unheard because the model fell behind: the buffer holds {limit:g} s at most, and "
                "what is older and not yet confirmed is skipped")
SKIPPED_NOTE = ("The model could not keep up: {skipped:.1f} s of audio was skipped unheard (captions are missing "
                "words there). Choose a smaller model or a faster runtime.")
BEHIND_NOTE = "The model is busy {busy:.0%} of the time: it barely keeps up, and the captions fall behind."


# --- the microphone's frames ------------------------------------------------------------------------

class FrameConverter:
    """WebRTC audio frames (48 kHz, int16, mono or stereo) to 16 kHz mono float32, with one resampler kept
    across frames so that no frame edge clicks. Channels are averaged here: the resampler's own downmix adds
    3 dB to a stereo pair of identical channels."""

    def __init__(self) -> None:
        import av
        self._resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)  # planar, channels kept

    def __call__(self, frame: Any) -> np.ndarray:
        out = [f.to_ndarray().mean(axis=0) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


# --- one browser session's captions -------------------------------------------------------------------

class Captioner:
    """One browser session's live captions: the prepared model, the session listening now, the last record.

    ``prepare`` (the page's thread) loads nothing itself: it is given the loaded model, times one decode
    and keeps the outlook. ``arm`` (the page, while the microphone is on) lets the next frame of ``on_frame``
    (the WebRTC thread) start a session. ``stop`` (the page's thread) disarms, ends the session and adds the
    offline comparison, so frames still in flight after Stop start nothing.
    """

    def __init__(self, options: StreamOptions | None = None) -> None:
        self.options = options or StreamOptions()
        self._lock = threading.Lock()
        self.request: RunRequest | None = None
        self._model: Any = None
        self._decode: stream_session.Decode | None = None
        self.outlook: Outlook | None = None
        self.session: LiveSession | None = None
        self.record: SessionRecord | None = None
        self.error = ""
        self._context = contextvars.copy_context()
        self._converter: FrameConverter | None = None
        self._armed = False  # the page saw the microphone on: frames may start a session

    def prepare(self, request: RunRequest, model: Any, probe_audio: tuple[np.ndarray, str], owner: str) -> Outlook:
        """Use the loaded model for the next session, warmed up, with its outlook from one decode's time here."""
        if request == self.request and self.outlook is not None:
            return self.outlook
        decode = decoder_for(model)
        audio, what = probe_audio
        seconds = probe(decode, audio)
        context = contextvars.copy_context()
        context.run(RUN_OWNER.set, owner)  # a measured run waiting for this device names this session
        with self._lock:
            self.request, self._model, self._decode, self._context = request, model, decode, context
            self.outlook = outlook(seconds, self.options, f"timed here just now on {what}")
        return self.outlook

    def arm(self) -> None:
        """The microphone is on: the next frame starts a session if none is listening."""
        self._armed = True

    def on_frame(self, frame: Any) -> None:
        """A microphone frame (the WebRTC thread): the first one after arm() starts a session."""
        with self._lock:
            if self._decode is None or not self._armed:
                return
            if self.session is None:
                self._converter = FrameConverter()
                self.session = LiveSession(self._decode, self.options, context=self._context,
                                           gpu_index=0 if self.request.device == "cuda" else None).start()
                self.record, self.error = None, ""
            session, convert = self.session, self._converter
        if session.transcriber.audio_s < stream_session.KEEP_S:  # a session listens KEEP_S at most
            session.feed(convert(frame))

    def on_ended(self) -> None:
        """The microphone's track ended (the WebRTC thread). The page stops the session when Stop is pressed; a
        session still listening ABANDONED_AFTER_S later (the tab was closed) is stopped here, its record kept."""
        session = self.session
        if session is not None:
            threading.Thread(target=self._stop_abandoned, args=(session,), daemon=True).start()

    def _stop_abandoned(self, session: LiveSession) -> None:
        time.sleep(ABANDONED_AFTER_S)
        with self._lock:
            if self.session is not session:
                return
            self.session, self._armed = None, False
        try:
            self.record = session.stop(self._model)
        except Exception as exc:  # noqa: BLE001
            self.error = f"Live captions stopped: {type(exc).__name__}: {exc}"

    @property
    def listening(self) -> bool:
        return self.session is not None

    def view(self) -> LiveView | None:
        session = self.session
        return session.view() if session is not None else None

    def stop(self, reference: str = "") -> SessionRecord | None:
        """End the session, decode its last words, and compare with the same audio transcribed offline."""
        with self._lock:
            session, self.session, model, self._armed = self.session, None, self._model, False
        if session is None:
            return self.record
        try:
            record = session.stop(model)
            self.record = stream_session.with_offline(record, model, session.audio, reference)
        except Exception as exc:  # noqa: BLE001 - a failed decode ends the session with its reason shown
            self.error = f"Live captions stopped: {type(exc).__name__}: {exc}"
        return self.record


# --- before starting ----------------------------------------------------------------------------------

def problems(request: RunRequest) -> list[str]:
    """Why live captions cannot run this model here (empty when they can)."""
    found = run_problems([request.model_id], request.device, request.precision, request.runtime)
    if request.weights != "pretrained":
        found.append(stream_session.SYNTHETIC)
    return found


def probe_audio(root: str) -> tuple[np.ndarray, str]:
    """About trim_s of speech to time one decode with: the first sample utterance beside the repository,
    repeated to length; else noise at speech level (Whisper writes few words for it: an optimistic time)."""
    n = round(StreamOptions().trim_s * SAMPLE_RATE)
    for folder in sample_folders(root)[:1]:
        utterances = folder_utterances(folder)
        if utterances:
            speech = load_audio(utterances[0].path)
            return np.resize(speech, n).astype(np.float32), f"{n / SAMPLE_RATE:g} s of sample speech"
    noise = np.random.default_rng(0).standard_normal(n).astype(np.float32) * PROBE_NOISE_RMS
    return noise, f"{n / SAMPLE_RATE:g} s of noise (few words: the real decode may take longer)"


def sweep_decode(medians: pd.DataFrame, request: RunRequest, trim_s: float = StreamOptions().trim_s) -> str:
    """What the precomputed sweep measured for one clip near a buffer's length with this configuration, in a
    sentence ('' when it has no such row)."""
    if medians.empty:
        return ""
    rows = medians[(medians[MODEL_NAME] == model_label(request.model_id)) & (medians["runtime"] == request.runtime)
                   & (medians["device"] == request.device) & (medians["precision"] == request.precision)
                   & (medians["batch_size"] == 1) & (medians["noise"].fillna("") == "")]
    if rows.empty:
        return ""
    rows = rows.assign(distance=[(abs(bucket_seconds(b) - trim_s), -bucket_seconds(b)) for b in rows["bucket"]])
    row = rows.sort_values("distance").iloc[0]
    where = f" on {row['cpu_name']}" if row.get("cpu_name") else ""
    return (f"The precomputed sweep measured {row['latency_per_utt_s']:.2f} s for one {row['bucket']} clip with "
            f"these settings{where} ({row['weights']} weights).")


# --- while listening ----------------------------------------------------------------------------------

def caption_html(confirmed: str, tentative: str = "", empty: str = "") -> str:
    """The captions, newest words in view (older ones give way at a word boundary): confirmed text, then the
    tentative tail greyed; empty (greyed) before the first word."""
    words = [(w, False) for w in confirmed.split()] + [(w, True) for w in tentative.split()]
    shown, length = [], 0
    for word, grey in reversed(words):
        if shown and length + len(word) + 1 > SHOWN_CHARS:
            break
        shown.append((word, grey))
        length += len(word) + 1
    shown.reverse()
    if not shown:
        body = f"<span style='{TENTATIVE_CSS}'>{html.escape(empty)}</span>"
    else:
        body = ("… " if len(shown) < len(words) else "") + " ".join(
            f"<span style='{TENTATIVE_CSS}'>{html.escape(w)}</span>" if grey else html.escape(w) for w, grey in shown)
    return f"<div data-testid='live-captions' style='{CAPTION_CSS}'>{body}</div>"


def live_figures(view: LiveView, step_s: float) -> list[Figure]:
    """Lag, busy share, power now (its source in the label) and what was heard so far."""
    s = view.stream
    lag = "—" if math.isnan(s.lag_median_s) else f"{s.lag_median_s:.1f} s"
    power = "—" if math.isnan(view.power_w) else f"{view.power_w:.0f} W"
    return [Figure("Lag (median)", lag, LAG_HELP.format(step=step_s)),
            Figure("Model busy", present.percent(s.busy_share) if s.decodes else "—", BUSY_HELP),
            Figure(f"Power now ({present.energy_tag(view.power_source)})", power,
                   present.explain_sources([view.power_source])),
            Figure("Heard", f"{s.audio_s:.0f} s · {s.words} words")]


def warnings(view: LiveView, options: StreamOptions) -> list[str]:
    """Falling behind, skipped audio and a failed decoder, each in one sentence (never silently)."""
    s, found = view.stream, []
    if view.error:
        found.append(f"The model failed: {view.error}")
    if s.skipped_s > 0:
        found.append(SKIPPED_NOTE.format(skipped=s.skipped_s))
    elif view.behind:
        found.append(BEHIND_NOTE.format(busy=s.busy_share))
    if s.audio_s >= stream_session.KEEP_S:
        found.append(f"Stopped listening after {stream_session.KEEP_S / 60:.0f} minutes, the longest session kept: "
                     f"press Stop to see the end card.")
    return found


# --- the end card -------------------------------------------------------------------------------------

def end_summary(r: SessionRecord) -> str:
    """One plain sentence: how long, how many words, how far behind, how busy, at what energy."""
    energy = present.energy(r.energy_j / J_PER_WH, r.energy_source, "Wh")
    lag = (f"about {r.lag_median_s:.1f} s after you said them (9 in 10 within {r.lag_p90_s:.1f} s)"
           if r.words else "no words")
    return (f"You spoke for {r.speech_s:.0f} s: {r.words} words appeared {lag}; the model was busy "
            f"{r.busy_share:.0%} of the time and the session used {energy}.")


def end_figures(r: SessionRecord) -> list[Figure]:
    """The end card: length, words, lag, busy share, skipped audio, energy per audio hour, WERs."""
    tag = present.energy_tag(r.energy_source)
    figures = [Figure("Speech", f"{r.speech_s:.0f} s", "audio streamed, pauses included"),
               Figure("Words", str(r.words)),
               Figure("Lag median · 90th pct", f"{r.lag_median_s:.1f} · {r.lag_p90_s:.1f} s",
                      LAG_HELP.format(step=r.step_s)),
               Figure("Model busy", present.percent(r.busy_share), BUSY_HELP),
               Figure("Skipped audio", f"{r.skipped_s:.1f} s", SKIPPED_HELP.format(limit=StreamOptions().max_buffer_s)),
               Figure(f"Energy ({tag})", present.number(r.energy_j / J_PER_WH, "Wh"),
                      "the whole session, waits included; " + present.explain_sources([r.energy_source])),
               Figure(f"Per audio hour ({tag})", present.number(r.energy_per_audio_hour_wh, "Wh"),
                      "the session's energy / its length, scaled to an hour of speech")]
    if not math.isnan(r.wer):
        figures.append(Figure("WER streamed · offline", f"{present.percent(r.wer)} · {present.percent(r.offline_wer)}",
                              WER_HELP + "; offline: the same audio transcribed in one go by the measured path"))
    return figures


def end_hour(r: SessionRecord, costs: hourly.CostSettings) -> str:
    """The session as an hour of live audio in a class's units (minutes, Wh, g CO2e, money; the picker's grid and
    prices): the machine is held the whole hour and the session's energy already counts its waits, so no idle draw
    is added on top. Its kinds stay those of the session's energy."""
    live = dataclasses.replace(costs, mode=hourly.LIVE, idle_power_w=math.nan, idle_kind="")
    here = HERE.get(r.device, r.device)
    return hourly.sentence(hourly.audio_hour(r.busy_share, r.energy_per_audio_hour_wh, r.energy_source, here, live))


def offline_sentence(r: SessionRecord) -> str:
    """The same audio transcribed offline, beside the streamed text."""
    if not r.offline_text and math.isnan(r.offline_latency_s):
        return ""
    kept = f" (its first {r.kept_s / 60:.0f} minutes)" if r.kept_s < r.speech_s - 0.5 else ""
    differs = ("" if math.isnan(r.differs_from_offline) else
               f" The streamed text differs from it in {present.percent(r.differs_from_offline)} of its words.")
    return (f"Offline, the same audio{kept} took {present.number(r.offline_latency_s, 's')} and "
            f"{present.energy(r.offline_energy_j, r.offline_energy_source)} through the measured path.{differs}")

