"""Live captions: a streaming policy over any "decode this audio to text" function.

Audio arrives in chunks (``feed``); every ``step_s`` of new audio the whole buffer is decoded again
(``step``). The policy, after ufal/whisper_streaming (Macháček et al., 2023):

1. **Confirming words: LocalAgreement-2.** The words of a decode after the text already confirmed in the
   buffer form its *tail*. The longest common prefix of this tail and the previous decode's tail is
   confirmed (shown for good); the rest of the newest tail is *tentative* (shown greyed, may change). Words
   are compared lower-cased and without punctuation.
2. **Trimming, so the cost stays bounded over a long talk.** The buffer is cut (a) at a pause: when the
   newest audio is silent and nothing is tentative, everything before the silence is confirmed; (b) after
   the last confirmed sentence end (a word ending in . ? !) once the buffer holds more than ``trim_s``;
   (c) after the last confirmed word once it holds more than ``word_trim_s`` (CTC models write no
   punctuation; some sentences are long).
3. **Where a cut falls in the audio, without word timestamps.** Every word remembers the decode that first
   heard it: its audio ended at or before that decode's audio end (``heard_s``), and after the previous
   decode's, to within the audio that decode added (``span_s``, one step). The cut is placed at the quietest
   20 ms frame from ``span_s + CUT_MARGIN_S`` before ``heard_s`` to ``CUT_MARGIN_S`` after it: the pause after
   the word. This needs only text, so it works for every runtime (transformers eager and compiled,
   CTranslate2, openai-whisper, whisper.cpp, and wav2vec2's CTC). Each decode repeats the buffer's confirmed
   words, and after a cut placed early a few before them: its first words are aligned with the end of the
   confirmed text (``past_confirmed``, reaching ``OVERLAP_WORDS`` words before the buffer's own), so they are
   not shown twice. Limits: in speech without a pause in that span the cut can split a word, which may then be
   lost or repeated; a pause before the sentence's last words can draw the cut early (their repeat is then
   dropped, as above); a model that hears a word only a step late moves the window a step late too.
4. **Falling behind is never silent.** The buffer holds at most ``max_buffer_s``: when more is waiting
   (the model decodes slower than speech arrives and cannot confirm), the buffer is first cut after the last
   confirmed word, then the oldest audio beyond the limit is dropped unheard and added to ``skipped_s``.
5. **Silence is not decoded.** A buffer with no 100 ms frame louder than ``speech_rms`` is not sent to the
   model (Whisper answers silence with "you" or "Thank you."); it is dropped, counted in ``silence_s``.

Time comes from an injected ``clock`` and the model from an injected ``decode``, so tests run the policy on
recorded audio in simulated real time (``simulate``) without waiting. A confirmed word's lag is the time it
was shown minus the time the audio of the first decode that heard it had arrived: its own audio ended up to
one step (``span_s``) earlier, so the lag is a lower bound by at most one step.
"""
from __future__ import annotations

import bisect
import math
import re
import threading
import time
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Callable, Sequence

import numpy as np

from .audio import SAMPLE_RATE, quietest_sample

STEP_S = 1.0  # new audio between two decodes
TRIM_S = 10.0  # above this the buffer is cut at the last confirmed sentence end
WORD_TRIM_S = 15.0  # above this, without a sentence end, at the last confirmed word
MAX_BUFFER_S = 20.0  # never more than this is decoded at once (Whisper's window is 30 s): older audio is skipped
WHISPER_WINDOW_S = 30.0
SPEECH_RMS = 0.01  # about -40 dBFS: a 100 ms frame louder than this may be speech
SPEECH_FRAME_S = 0.1
OVERLAP_WORDS = 12  # confirmed words a cut placed early may leave in the buffer (a slow step holds ~10)
CUT_MARGIN_S = 0.3  # the cut's search span reaches this far beyond the word's known window, both ways
P90 = 90
SENTENCE_END = re.compile(r"[.?!][\"')\]]*$")
NOT_A_WORD_CHAR = re.compile(r"[^\w']+")

Decode = Callable[[np.ndarray], str]
Clock = Callable[[], float]


@dataclass(frozen=True)
class StreamOptions:
    """How often to decode, when to trim, how much audio at most, what counts as silence (seconds, RMS)."""

    step_s: float = STEP_S
    trim_s: float = TRIM_S
    word_trim_s: float = WORD_TRIM_S
    max_buffer_s: float = MAX_BUFFER_S
    speech_rms: float = SPEECH_RMS

    def __post_init__(self) -> None:
        if not 0 < self.step_s < self.trim_s <= self.word_trim_s < self.max_buffer_s <= WHISPER_WINDOW_S:
            raise ValueError(f"stream options must satisfy 0 < step_s < trim_s <= word_trim_s < max_buffer_s <= "
                             f"{WHISPER_WINDOW_S:g} s, got {self}")


@dataclass(frozen=True)
class Word:
    """A word of a decode, with where its audio ended on the stream's clock (seconds of audio fed)."""

    text: str
    heard_s: float  # the audio end of the first decode that heard it here: the word ended at or before it …
    span_s: float  # … and at most this much before it (the audio that decode added)


@dataclass(frozen=True)
class Caption:
    """A confirmed word: when it was shown and how long after its audio arrived (lag_s, a lower bound)."""

    text: str
    heard_s: float
    span_s: float
    shown_at_s: float  # on the clock
    lag_s: float


@dataclass(frozen=True)
class StreamState:
    """What a caption display shows now, and how the stream is keeping up."""

    confirmed: str
    tentative: str
    words: int
    audio_s: float  # audio fed so far
    buffer_s: float  # audio in the buffer now
    busy_s: float  # seconds spent decoding
    wall_s: float  # seconds since the first audio arrived
    decodes: int
    skipped_s: float
    silence_s: float
    lags_s: tuple[float, ...]

    @property
    def busy_share(self) -> float:
        """Decoding time / wall time: 1.0 means the model never rests and cannot keep up."""
        return self.busy_s / self.wall_s if self.wall_s > 0 else math.nan

    @property
    def lag_median_s(self) -> float:
        return float(np.median(self.lags_s)) if self.lags_s else math.nan

    @property
    def lag_p90_s(self) -> float:
        return float(np.percentile(self.lags_s, P90)) if self.lags_s else math.nan


def norm(word: str) -> str:
    """A word as the agreement compares it: lower case, no punctuation."""
    return NOT_A_WORD_CHAR.sub("", word.lower())


def ends_sentence(word: str) -> bool:
    return bool(SENTENCE_END.search(word))


def has_speech(audio: np.ndarray, rms: float = SPEECH_RMS) -> bool:
    """Whether any 100 ms frame of audio is louder than rms (a frame shorter than that counts too)."""
    frame = int(SPEECH_FRAME_S * SAMPLE_RATE)
    n = max(1, math.ceil(audio.shape[0] / frame))
    padded = np.zeros(n * frame, dtype=np.float32)
    padded[: audio.shape[0]] = audio
    return bool((np.sqrt((padded.reshape(n, frame) ** 2).mean(axis=1)) > rms).any()) if audio.size else False


def common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def past_confirmed(confirmed: Sequence[str], hyp: Sequence[str]) -> int:
    """Where, in a decode's normalised words, the confirmed words it repeats end.

    An overlap alignment (match +1, a changed, missing or extra word -1): it may start anywhere in confirmed
    (its first words may have been cut away), must run to confirmed's last word (still in the buffer), and
    starts at hyp's first word; the end in hyp with the best score wins. 0 when no alignment scores above 0
    (none of them was heard again: the cut took them all).
    """
    n, m = len(confirmed), min(len(hyp), len(confirmed) + OVERLAP_WORDS)
    if n == 0 or m == 0:
        return 0
    prev = [-j for j in range(m + 1)]  # row 0: hyp words before any confirmed word are extra
    for i in range(1, n + 1):
        row = [0] * (m + 1)  # column 0: confirmed words before the alignment were cut away, free
        for j in range(1, m + 1):
            same = 1 if confirmed[i - 1] == hyp[j - 1] else -1
            row[j] = max(prev[j - 1] + same, prev[j] - 1, row[j - 1] - 1)
        prev = row
    best = max(range(m + 1), key=lambda j: (prev[j], -j))
    return best if prev[best] > 0 else 0


def repeated_overlap(confirmed: Sequence[str], hyp: Sequence[str]) -> int:
    """How many words at the start of hyp repeat the end of the confirmed text (at most OVERLAP_WORDS)."""
    for n in range(min(OVERLAP_WORDS, len(confirmed), len(hyp)), 0, -1):
        if list(confirmed[-n:]) == list(hyp[:n]):
            return n
    return 0


class StreamingTranscriber:
    """The policy of the module's docstring: feed audio from any thread, step from one.

    decode: 16 kHz mono float32 audio -> its text (``stream_session.decoder_for`` wraps a loaded model).
    clock: seconds, monotonic; decode time is read from it, so a simulated clock makes tests instant.
    """

    def __init__(self, decode: Decode, options: StreamOptions | None = None, clock: Clock = time.perf_counter):
        self.decode, self.options, self.clock = decode, options or StreamOptions(), clock
        self._feed_lock, self._view_lock = threading.Lock(), threading.Lock()
        self._pending: list[np.ndarray] = []
        self._arrived_s: list[float] = []  # stream seconds fed after each chunk …
        self._arrived_at: list[float] = []  # … and when that chunk arrived
        self._buffer = np.zeros(0, dtype=np.float32)
        self.buffer_start_s = 0.0  # stream seconds cut away before the buffer
        self._in_buffer: list[Word] = []  # confirmed words whose audio is still in the buffer
        self._tail: list[Word] = []  # the last decode's words after the confirmed ones: tentative
        self.captions: list[Caption] = []
        self.busy_s = self.skipped_s = self.silence_s = 0.0
        self.decodes = self.skips = 0
        self._finished_at = math.nan  # on the clock, once finish() ran

    # --- input ---------------------------------------------------------------------------------

    def feed(self, audio: np.ndarray, at: float | None = None) -> None:
        """Audio that arrived at clock time at (now by default); any thread."""
        chunk = np.asarray(audio, dtype=np.float32).reshape(-1)
        if not chunk.size:
            return
        with self._feed_lock:
            self._pending.append(chunk)
            fed = (self._arrived_s[-1] if self._arrived_s else 0.0) + chunk.shape[0] / SAMPLE_RATE
            self._arrived_s.append(fed)
            self._arrived_at.append(self.clock() if at is None else at)

    @property
    def audio_s(self) -> float:
        """Seconds of audio fed so far."""
        with self._feed_lock:
            return self._arrived_s[-1] if self._arrived_s else 0.0

    @property
    def pending_s(self) -> float:
        with self._feed_lock:
            return sum(c.shape[0] for c in self._pending) / SAMPLE_RATE

    def ready(self) -> bool:
        """Whether a step's worth of new audio is waiting."""
        return self.pending_s >= self.options.step_s

    def arrived_at(self, stream_s: float) -> float:
        """When the audio up to stream_s had arrived, on the clock."""
        with self._feed_lock:
            i = min(bisect.bisect_left(self._arrived_s, stream_s - 1e-9), len(self._arrived_s) - 1)
            return self._arrived_at[i] if i >= 0 else math.nan

    # --- one step ------------------------------------------------------------------------------

    def step(self, final: bool = False) -> bool:
        """Take the waiting audio, cut and cap the buffer, decode it and confirm what two decodes agree on.

        final: no more audio will come, so the whole tail is confirmed. False when nothing was decoded.
        """
        with self._feed_lock:
            new = np.concatenate(self._pending) if self._pending else np.zeros(0, dtype=np.float32)
            self._pending.clear()
        self._buffer = np.concatenate([self._buffer, new])
        new_s = new.shape[0] / SAMPLE_RATE
        if not self._tail and not has_speech(new, self.options.speech_rms):
            self._cut(self._buffer.shape[0] - new.shape[0])  # (a) a pause, nothing tentative: all before it is confirmed
            self._in_buffer = []
            with self._view_lock:
                self.silence_s += new_s
            return False
        self._cap()
        t0 = self.clock()
        text = self.decode(self._buffer)
        shown = self.clock()
        with self._view_lock:
            self.busy_s += shown - t0
            self.decodes += 1
            self._agree(text.split(), self.buffer_end_s, new_s, shown, final)
        self._trim()
        return True

    def finish(self) -> None:
        """End of speech: decode what is waiting and confirm the whole tail (no later decode can disagree)."""
        if self.pending_s > 0:
            self.step(final=True)
        elif self._tail:
            shown = self.clock()
            with self._view_lock:
                for word in self._tail:
                    self._confirm(word, shown)
                self._tail = []
        self._finished_at = self.clock()

    @property
    def buffer_end_s(self) -> float:
        return self.buffer_start_s + self._buffer.shape[0] / SAMPLE_RATE

    def _agree(self, words: list[str], end_s: float, new_s: float, shown: float, final: bool) -> None:
        """LocalAgreement-2 on the decode's tail; final confirms the whole tail."""
        normed = [norm(w) for w in words]
        if self._in_buffer:  # they must be heard again: align the confirmed text's end, early-cut words included
            context = self.captions[-(len(self._in_buffer) + OVERLAP_WORDS):]
            start = past_confirmed([norm(c.text) for c in context], normed)
        else:  # the cut was after the last confirmed word: drop only exact repeats of its end
            start = repeated_overlap([norm(c.text) for c in self.captions[-OVERLAP_WORDS:]], normed)
        tail = [Word(w, end_s, new_s) for w in words[start:]]
        agreed = common_prefix(normed[start:], [norm(w.text) for w in self._tail])
        agreed = len(tail) if final else agreed
        confirmed = [self._tail[i] if i < len(self._tail) else tail[i] for i in range(agreed)]  # first heard
        for old, w in zip(confirmed, tail):  # the newest spelling, the first hearing
            self._confirm(Word(w.text, old.heard_s, old.span_s), shown)
        self._tail = tail[agreed:]

    def _confirm(self, word: Word, shown: float) -> None:
        lag = shown - self.arrived_at(word.heard_s)
        self.captions.append(Caption(word.text, word.heard_s, word.span_s, shown, lag))
        self._in_buffer.append(word)

    # --- trimming and capping ------------------------------------------------------------------

    def _cut(self, sample: int) -> None:
        sample = max(0, min(sample, self._buffer.shape[0]))
        self._buffer = self._buffer[sample:]
        self.buffer_start_s += sample / SAMPLE_RATE

    def _trim(self) -> None:
        """(b) after the last confirmed sentence end past trim_s; (c) after the last confirmed word past word_trim_s."""
        seconds = self._buffer.shape[0] / SAMPLE_RATE
        if seconds <= self.options.trim_s or not self._in_buffer:
            return
        ends = [i for i, w in enumerate(self._in_buffer) if ends_sentence(w.text)]
        if ends:
            self._cut_after(ends[-1])
        elif seconds > self.options.word_trim_s:
            self._cut_after(len(self._in_buffer) - 1)

    def _cut_after(self, i: int) -> None:
        """Cut the buffer in the pause after the i-th confirmed word of the buffer (see the module's point 3)."""
        word = self._in_buffer[i]
        lo = word.heard_s - word.span_s - CUT_MARGIN_S - self.buffer_start_s
        hi = word.heard_s + CUT_MARGIN_S - self.buffer_start_s
        self._cut(quietest_sample(self._buffer, max(0, round(lo * SAMPLE_RATE)), max(0, round(hi * SAMPLE_RATE))))
        self._in_buffer = self._in_buffer[i + 1:]

    def _cap(self) -> None:
        """(4) At most max_buffer_s: cut after the last confirmed word, then skip the oldest audio beyond it."""
        limit = self.options.max_buffer_s
        if self._buffer.shape[0] / SAMPLE_RATE <= limit:
            return
        if self._in_buffer:
            self._cut_after(len(self._in_buffer) - 1)
        excess = self._buffer.shape[0] - round(limit * SAMPLE_RATE)
        if excess > 0:
            self._cut(excess)
            with self._view_lock:
                self.skipped_s += excess / SAMPLE_RATE
                self.skips += 1
            self._in_buffer, self._tail = [], []  # what they stood for is gone with the audio

    # --- what it shows -------------------------------------------------------------------------

    def state(self) -> StreamState:
        """A consistent snapshot for a display (any thread)."""
        with self._feed_lock:
            first = self._arrived_at[0] if self._arrived_at else math.nan
            fed = self._arrived_s[-1] if self._arrived_s else 0.0
        with self._view_lock:
            captions, tail = list(self.captions), list(self._tail)
            busy, decodes, skipped, silence = self.busy_s, self.decodes, self.skipped_s, self.silence_s
        now = self._finished_at if not math.isnan(self._finished_at) else self.clock()
        wall = 0.0 if math.isnan(first) else max(0.0, now - first)
        return StreamState(" ".join(c.text for c in captions), " ".join(w.text for w in tail), len(captions), fed,
                           self._buffer.shape[0] / SAMPLE_RATE, busy, wall, decodes, skipped, silence,
                           tuple(c.lag_s for c in captions))


# --- simulated real time ---------------------------------------------------------------------------


@dataclass
class ManualClock:
    """A clock that moves only when told: simulated real time for tests and dry runs."""

    t: float = 0.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


@dataclass
class Simulation:
    """What simulate returns: the transcriber (its captions and state) and the largest buffer it decoded."""

    transcriber: StreamingTranscriber
    max_buffer_s: float = 0.0
    buffers_s: list[float] = field(default_factory=list)


def simulate(audio: np.ndarray, decode: Decode, options: StreamOptions | None = None,
             cost_s: float | Callable[[np.ndarray, float], float] | None = None, chunk_s: float = 0.02) -> Simulation:
    """Stream recorded audio in simulated real time: chunk_s chunks arrive on a ManualClock as if spoken, and
    the policy decodes whenever a step's worth is waiting.

    cost_s: what a decode costs on the clock: a fixed number of seconds, a function of (buffer, measured
    seconds), or None for the measured time (computation-aware, like whisper_streaming's simulation).
    """
    clock = ManualClock()
    sim = Simulation(StreamingTranscriber(lambda a: _costed(a, decode, clock, cost_s, sim), options, clock))
    chunk = max(1, round(chunk_s * SAMPLE_RATE))
    fed = 0
    while fed < audio.shape[0]:
        while fed < audio.shape[0] and (fed + chunk) / SAMPLE_RATE <= clock() + 1e-9:  # everything spoken by now
            sim.transcriber.feed(audio[fed:fed + chunk], at=min(fed + chunk, audio.shape[0]) / SAMPLE_RATE)
            fed += chunk
        if sim.transcriber.ready():
            sim.transcriber.step()
        elif fed < audio.shape[0]:
            clock.t = max(clock.t, (fed + chunk) / SAMPLE_RATE)  # wait for the next chunk
    sim.transcriber.finish()
    return sim


def _costed(audio: np.ndarray, decode: Decode, clock: ManualClock,
            cost_s: float | Callable[[np.ndarray, float], float] | None, sim: Simulation) -> str:
    t0 = time.perf_counter()
    text = decode(audio)
    measured = time.perf_counter() - t0
    clock.advance(measured if cost_s is None else cost_s(audio, measured) if callable(cost_s) else cost_s)
    sim.buffers_s.append(audio.shape[0] / SAMPLE_RATE)
    sim.max_buffer_s = max(sim.max_buffer_s, sim.buffers_s[-1])
    return text
