"""Word and character error rates on normalised text, and word-by-word alignments.

Both sides go through Whisper's English normaliser before scoring: without it, casing, punctuation,
"twenty five" vs "25" and "colour" vs "color" count as errors and WER comes out several points too
high. Rates are corpus-level: total errors / total reference words (or characters).
"""
from __future__ import annotations

import functools
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import jiwer
from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

SPELLING_MAPPING_PATH = Path(__file__).parent / "normalizers" / "english.json"
# TED-LIUM marks words the transcriber could not make out as <unk>: they are not scored. The
# Whisper normaliser already drops anything in <...> and joins "it 's" into "it's"; tests hold it to
# that. Whole segments to skip are transcribed as this token, which the normaliser would otherwise
# turn into five reference words.
TEDLIUM_IGNORE = "ignore_time_segment_in_scoring"

OP_EQUAL, OP_SUBSTITUTE, OP_INSERT, OP_DELETE = "equal", "substitute", "insert", "delete"


@functools.cache
def _normalizer() -> EnglishTextNormalizer:
    with open(SPELLING_MAPPING_PATH, encoding="utf-8") as f:
        return EnglishTextNormalizer(json.load(f))


def normalize(text: str) -> str:
    """Lower-cased, punctuation-free, American-spelled text with numbers as digits."""
    text = text.replace(TEDLIUM_IGNORE, " ")
    return _normalizer()(text).strip()


@dataclass(frozen=True)
class WordDiff:
    """The alignment of a normalised reference against a hypothesis, one op per word."""

    ops: tuple[tuple[str, str | None, str | None], ...]  # (kind, ref_word, hyp_word)
    substitutions: int
    deletions: int
    insertions: int
    hits: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def reference_words(self) -> int:
        return self.hits + self.substitutions + self.deletions


def _pairs(references: list[str], hypotheses: list[str]) -> list[tuple[str, str]]:
    if len(references) != len(hypotheses):
        raise ValueError(f"Got {len(references)} references but {len(hypotheses)} hypotheses: "
                         "pass one hypothesis per reference.")
    return [(normalize(r), normalize(h)) for r, h in zip(references, hypotheses)]


def _error_rate(references: list[str], hypotheses: list[str], process, units) -> float:
    """(S + D + I) / reference units over the corpus; NaN with no references at all."""
    pairs = _pairs(references, hypotheses)
    if not pairs:
        return math.nan
    # Empty references are scored by hand: older jiwer versions refuse them, and against nothing
    # every hypothesis unit is an insertion.
    scored = [(r, h) for r, h in pairs if r]
    errors = sum(len(units(h)) for r, h in pairs if not r)
    n_ref = 0
    if scored:
        out = process([r for r, _ in scored], [h for _, h in scored])
        errors += out.substitutions + out.deletions + out.insertions
        n_ref = out.hits + out.substitutions + out.deletions
    if n_ref == 0:
        return 0.0 if errors == 0 else math.inf
    return errors / n_ref


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus word error rate (a fraction: 0.05 is 5 %) on normalised text.

    Silence against a reference scores 1.0; words against an empty reference are insertions; with
    no reference words anywhere the rate is 0.0 when nothing was said either, else infinite.
    """
    return _error_rate(references, hypotheses, jiwer.process_words, str.split)


def cer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus character error rate on normalised text (spaces count as characters, as in jiwer)."""
    return _error_rate(references, hypotheses, jiwer.process_characters, list)


def word_errors(reference: str, hypothesis: str) -> WordDiff:
    """Word-by-word alignment of one normalised reference against its hypothesis."""
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    # against an empty reference every word is an insertion (and older jiwer refuses to align it)
    ops: list[tuple[str, str | None, str | None]] = [] if ref else [(OP_INSERT, None, h) for h in hyp]
    chunks = jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0] if ref else []
    for c in chunks:
        refs = ref[c.ref_start_idx:c.ref_end_idx]
        hyps = hyp[c.hyp_start_idx:c.hyp_end_idx]
        if c.type == OP_DELETE:
            ops += [(OP_DELETE, r, None) for r in refs]
        elif c.type == OP_INSERT:
            ops += [(OP_INSERT, None, h) for h in hyps]
        else:  # equal and substitute chunks pair words one to one
            ops += [(c.type, r, h) for r, h in zip(refs, hyps)]
    count = Counter(kind for kind, _, _ in ops)
    return WordDiff(tuple(ops), substitutions=count[OP_SUBSTITUTE], deletions=count[OP_DELETE],
                    insertions=count[OP_INSERT], hits=count[OP_EQUAL])
