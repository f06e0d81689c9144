"""Figures as people read them: units, and every energy figure with the source it came from.

Shared by the app's pages and captions. An estimate is never shown without the word "estimate".
"""
from __future__ import annotations

import html
import math
import re
from typing import Iterable

import pandas as pd

from asr_core.energy_sources import (ESTIMATE, JOIN, MEASURED_SOURCES, NVML_COUNTER, NVML_POWER, PROJECTED, RAPL,
                                     UNAVAILABLE, source_parts)
from asr_core.scoring import OP_DELETE, OP_EQUAL, OP_INSERT, OP_SUBSTITUTE, WordDiff

MIB = 1024**2
GIB = 1024**3
MISSING = "—"
# Characters that make Markdown (or Streamlit's additions to it) draw something: links and images,
# emphasis, code, HTML and entities, headings, tables, strikethrough, maths. A backslash makes each literal.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~$!&])")
# What starts a list or a heading only at the start of a line: "- ", "+ ", "= ", "1. ", "1) ".
MARKDOWN_LINE_START = re.compile(r"^(\d*)([-+=.)])")

EXPERT_KEY = "expert-settings"  # the Transcribe page's container of settings class mode hides
# Class mode: the expert settings hidden (still there, so they keep their values), type the back row can read.
CLASS_MODE_CSS = f"""<style>
[class*="st-key-{EXPERT_KEY}"] {{display: none !important;}}
[data-testid="stMetricValue"], [data-testid="stMetricValue"] p {{font-size: 3rem !important; line-height: 1.2;}}
[data-testid="stMetricLabel"] p {{font-size: 1.25rem !important;}}
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p {{font-size: 1.3rem;}}
[data-testid="stMain"] [data-testid="stCaptionContainer"] p {{font-size: 1.1rem;}}
[data-testid="stMain"] h1 {{font-size: 3rem !important;}}
[data-testid="stMain"] h2, [data-testid="stMain"] h3 {{font-size: 2rem !important;}}
[data-testid="stMain"] button p {{font-size: 1.2rem !important;}}
</style>"""

HEADLINE_KEY = "headline"  # Recommend's container of its one plain sentence, drawn large
# Explore and Recommend on a projector (1280×720): less empty space above the title, Recommend's sentence large.
PROJECTOR_CSS = f"""<style>
[data-testid="stMainBlockContainer"] {{padding-top: 3.75rem !important;}}
[data-testid="stMain"] h1 {{font-size: 2.2rem; padding-top: 0; padding-bottom: 0.3rem;}}
.st-key-{HEADLINE_KEY} [data-testid="stMarkdownContainer"] p {{font-size: 1.75rem; line-height: 1.3; font-weight: 600;}}
</style>"""

# The Transcribe page: a figure, or its label, wraps instead of being cut off with "…" when cards sit side by side;
# a chart's PNG comes from the page's own button, named like its SVG (Streamlit's toolbar names it "<time>_chart.png").
TRANSCRIBE_CSS = """<style>
[data-testid="stMetricValue"], [data-testid="stMetricValue"] *, [data-testid="stMetricLabel"] * {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;}
[data-testid="stMetricValue"] {overflow-wrap: anywhere; height: auto !important;}
[data-testid="stBaseButton-elementToolbar"][aria-label="Download as PNG"] {display: none !important;}
</style>"""
# … and in class mode: less room above the title, and widget labels (the captions switch) wrapping, not cut off, so the
# Run button and the live power chart stay in view at 1280x720.
TRANSCRIBE_CLASS_CSS = """<style>
[data-testid="stMainBlockContainer"] {padding-top: 3.5rem !important;}
[data-testid="stMain"] [data-testid="stWidgetLabel"] * {white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important;}
[data-testid="stMain"] [data-testid="stExpander"] summary p {font-size: 1.05rem !important;}
</style>"""

# energy_source part -> how a caption explains it
ENERGY_SOURCE_TEXT = {
    NVML_COUNTER: "measured by the GPU's cumulative energy counter (NVML)",
    NVML_POWER: "measured by integrating sampled GPU power (NVML)",
    RAPL: "measured by the CPU's RAPL counters",
    ESTIMATE: "CPU time x an assumed package power, not a measurement",
    UNAVAILABLE: "not available",
    PROJECTED: "projected by the cost model: time × a power model, not a measurement",
}
LAPTOP_W = 30  # a laptop working hard: the everyday yardstick for an energy figure
BUSY_OTHERS_PCT = 25.0  # other processes above this share of all cores compete with a CPU measurement
NEAR_REAL_TIME = 0.1  # a speed within 10 % of real time is "about as fast as real time"


UNIT_SPACE = re.compile(r"(\d) (%|Wh|g CO2e|min)(?=\W|$)")


def keep_units(text: str) -> str:
    """A number and its unit on one line ('5.6 %' never breaks before the '%'): a no-break space between them."""
    return UNIT_SPACE.sub("\\1\u00a0\\2", text)


def plain(text: object) -> str:
    """Text from a file or a person, on one line and escaped, for st.markdown, st.caption and alerts to
    show as typed instead of drawing it (no image fetched, no link hidden behind other words)."""
    line = " ".join(str(text).splitlines()).strip()
    return MARKDOWN_LINE_START.sub(r"\1\\\2", MARKDOWN_SPECIAL.sub(r"\\\1", line), count=1)


def is_missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def number(x: float | None, unit: str = "", digits: int = 3) -> str:
    """3 significant digits and a unit; a dash when missing."""
    if is_missing(x):
        return MISSING
    return f"{x:.{digits}g} {unit}".strip()


def percent(x: float | None) -> str:
    return MISSING if is_missing(x) else f"{100 * x:.1f} %"


def bytes_(n: float | None) -> str:
    if is_missing(n) or not n:
        return MISSING
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def flops(n: float | None) -> str:
    if is_missing(n):
        return MISSING
    for unit, scale in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.3g} FLOP"


def is_estimate(energy_source: str) -> bool:
    """True when any part of the figure is modelled rather than measured."""
    return ESTIMATE in source_parts(energy_source)


def energy_tag(energy_source: str) -> str:
    """A short tag to print beside an energy figure: 'measured: rapl' or 'estimate'."""
    parts = source_parts(energy_source)
    if not parts or parts == [UNAVAILABLE]:
        return UNAVAILABLE
    if ESTIMATE in parts:
        measured = [p for p in parts if p in MEASURED_SOURCES]
        return ESTIMATE + (f" (partly measured: {JOIN.join(measured)})" if measured else "")
    return "measured: " + JOIN.join(parts)


def energy(j: float | None, energy_source: str, unit: str = "J") -> str:
    """'3.2 J (estimate)' — the value with its source, never one without the other."""
    if is_missing(j):
        return MISSING
    return f"{number(j, unit)} ({energy_tag(energy_source)})"


def explain_sources(sources: Iterable[str]) -> str:
    """One sentence on how energy was obtained, over every source part seen."""
    parts = sorted({p for s in sources for p in source_parts(s)} - {""})
    if not parts:
        return "Energy: not available."
    return "Energy: " + "; ".join(f"{p} ({ENERGY_SOURCE_TEXT.get(p, 'unknown source')})" for p in parts) + "."


def hardware(cpu_names: Iterable[str], gpu_names: Iterable[str]) -> str:
    """'Measured on: CPU X; GPU Y.' from the distinct names in some rows."""
    cpus = sorted({str(c) for c in cpu_names if c and not is_missing(c)})
    gpus = sorted({str(g) for g in gpu_names if g and not is_missing(g)})
    parts = []
    if cpus:
        parts.append("CPU " + ", ".join(cpus))
    if gpus:
        parts.append("GPU " + ", ".join(gpus))
    return "Measured on: " + ("; ".join(parts) if parts else "unknown hardware") + "."


def hardware_table(info: dict) -> pd.DataFrame:
    """system.hardware_summary() as two readable columns."""
    names = {"cpu": "CPU", "logical_cores": "logical cores", "memory_gib": "memory (GiB)", "gpu": "GPU",
             "cuda_available": "CUDA available", "gpu_memory_gib": "GPU memory (GiB)",
             "bf16_supported": "GPU supports bf16"}
    return pd.DataFrame({"item": [names.get(k, k) for k in info],
                         "value": [str(v) if v not in ("", None) else "none found" for v in info.values()]})


def meter_table(infos: Iterable) -> pd.DataFrame:
    """meters.meter_status() as a table: meter, whether it works, and why (not)."""
    return pd.DataFrame([{"meter": m.name, "works": "yes" if m.available else "no",
                          "what it reads / why not": m.detail if m.available else m.reason} for m in infos],
                        columns=["meter", "works", "what it reads / why not"])


# --- word diffs ------------------------------------------------------------------------------

# Semi-transparent backgrounds keep the page's own text colour readable on light and dark themes.
DIFF_STYLES = {
    OP_SUBSTITUTE: "background:rgba(255,165,0,0.35);border-radius:3px;padding:0 2px",
    OP_INSERT: "background:rgba(30,144,255,0.35);border-radius:3px;padding:0 2px",
    OP_DELETE: "background:rgba(220,20,60,0.30);border-radius:3px;padding:0 2px;text-decoration:line-through",
}
STRUCK_REF_STYLE = "text-decoration:line-through;opacity:0.7"


def _span(kind: str, ref: str | None, hyp: str | None) -> str:
    e = html.escape  # quote=True by default: safe inside title="..."
    if kind == OP_EQUAL:
        return e(hyp)
    if kind == OP_SUBSTITUTE:
        return (f'<span class="sub" title="ref: {e(ref)}" style="{DIFF_STYLES[kind]}">'
                f'<s style="{STRUCK_REF_STYLE}">{e(ref)}</s> {e(hyp)}</span>')
    if kind == OP_INSERT:
        return f'<span class="ins" title="inserted" style="{DIFF_STYLES[kind]}">{e(hyp)}</span>'
    return f'<span class="del" title="deleted" style="{DIFF_STYLES[kind]}">{e(ref)}</span>'


def diff_html(diff: WordDiff) -> str:
    """One line of HTML for ``st.markdown(..., unsafe_allow_html=True)``: errors highlighted."""
    body = " ".join(_span(*op) for op in diff.ops)
    return f'<div class="word-diff" style="line-height:1.8">{body}</div>'


# --- one result, in words -----------------------------------------------------------------------

def memory(device: str, model_bytes: int, rss_before_bytes: int, peak_rss_bytes: int,
           peak_gpu_allocated_bytes: int) -> tuple[int, str]:
    """The run's own memory in bytes and what it counts: the GPU allocator's peak, or on CPU the weights
    plus the resident-memory increase during the run (0 bytes when nothing was recorded)."""
    if device == "cuda":
        return peak_gpu_allocated_bytes, ("GPU memory allocated at the peak (PyTorch allocator): weights, "
                                          "activations and cache; the allocator's reserve and other processes excluded")
    if not rss_before_bytes:  # a record from before the run's own share was kept: the whole process
        return peak_rss_bytes, "the whole app's peak resident memory (RSS), not only this model's"
    working = max(0, peak_rss_bytes - rss_before_bytes)
    return model_bytes + working, (f"weights {bytes_(model_bytes)} + {bytes_(working) if working else '0 MiB'} "
                                   f"working memory (resident-memory increase during the run)")


def cpu_load(before_pct: float, during_pct: float) -> str:
    """'3 % before · 41 % during': other processes' share of all cores around the run."""
    def pct(x: float) -> str:
        return MISSING if is_missing(x) else f"{x:.0f} %"
    return f"{pct(before_pct)} before · {pct(during_pct)} during"


def others_load(before_pct: float, during_pct: float) -> float:
    """Other programs' CPU load as the warning reads it: during the run, else just before it (missing: neither)."""
    return during_pct if not is_missing(during_pct) else before_pct


def load_warning(before_pct: float, during_pct: float, runs: int = 1) -> str:
    """A one-sentence warning when other work kept the CPUs busy during the run ('' otherwise); runs > 1: the
    busiest of that many runs."""
    busy = others_load(before_pct, during_pct)
    if is_missing(busy) or busy <= BUSY_OTHERS_PCT:
        return ""
    when = "during this run" if runs <= 1 else f"during these {runs} runs (at the busiest)"
    return f"Other programs kept {busy:.0f} % of the CPU busy {when}: the figures may be slower than this machine can do."


def _seconds(x: float) -> str:
    return f"{x:.2g} s" if x < 10 else f"{x:.0f} s"


def _errors(wer: float) -> str:
    if wer <= 0:
        return "no word wrong"
    if wer >= 0.5:
        return f"{100 * wer:.0f} % of the words wrong"
    return f"1 word in {round(1 / wer)} wrong"


def summary(r, name: str) -> str:
    """One plain sentence on a finished run for a class, claiming only what the result has."""
    clip_s = r.audio_s / r.n_clips if r.n_clips else math.nan
    if is_missing(clip_s) or not r.latency_per_utt_s:
        return f"{name} has no finished clip to describe."
    batch = f" (per clip, in a batch of {r.batch_size})" if r.batch_size > 1 else ""
    speed = clip_s / r.latency_per_utt_s
    if abs(speed - 1) < NEAR_REAL_TIME:  # "1× slower than real time" for RTF 1.04 reads as a contradiction
        pace = "about as fast as real time"
    else:
        pace = f"{speed:.2g}× faster than real time" if speed >= 1 else f"{1 / speed:.2g}× slower than real time"
    text = f"{name} transcribed {_seconds(clip_s)} of speech in {_seconds(r.latency_per_utt_s)}{batch} — {pace}"
    if not is_missing(r.energy_per_utt_j) and energy_tag(r.energy_source) != UNAVAILABLE:
        about = "about " if is_estimate(r.energy_source) else ""
        text += (f" — using {about}{energy(r.energy_per_utt_j, r.energy_source)}, roughly what a {LAPTOP_W} W laptop "
                 f"draws in {_seconds(r.energy_per_utt_j / LAPTOP_W)}")
    if r.weights == "synthetic":
        return text + "; synthetic weights, so this is timing only (no transcript to check)."
    if is_missing(r.wer):
        return text + "; no reference text, so no count of wrong words."
    return text + f"; {_errors(r.wer)}."
