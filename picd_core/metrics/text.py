"""Text accuracy of a decoded image against reference words."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np


def word_accuracy(reference: Iterable[str], hypothesis: Iterable[str]) -> float:
    """Word recall with exact matching: the share of reference words (as a multiset) that the hypothesis contains.

    An empty reference scores 1.0 (nothing to read, nothing missed).
    """
    ref = Counter(reference)
    total = sum(ref.values())
    if total == 0:
        return 1.0
    hyp = Counter(hypothesis)
    return sum(min(count, hyp[word]) for word, count in ref.items()) / total


@dataclass(frozen=True)
class TextScore:
    """Text accuracy of one decoded image (definitions in docs/metrics.md)."""

    word_recall: float  # reference words read back with every character right
    char_recall: float  # reference characters aligned to an equal hypothesis character
    char_precision: float  # hypothesis characters aligned to an equal reference character
    reference_words: int
    hypothesis_chars: int

    @property
    def char_f1(self) -> float:
        p, r = self.char_precision, self.char_recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def text_accuracy(reference_words: Sequence[str], hypothesis_text: Sequence[str]) -> TextScore:
    """Score an OCR reading against reference words, both in reading order.

    Whitespace is removed from both sides (OCR engines differ in how they split words — PP-OCR often drops spaces),
    the two character streams are aligned with a minimum-edit (Levenshtein) alignment, and a reference word counts
    as read when all of its characters are aligned to equal characters. Case-sensitive.
    """
    from rapidfuzz.distance import Levenshtein

    words = [w for w in ("".join(w.split()) for w in reference_words) if w]
    ref = "".join(words)
    hyp = "".join("".join(t.split()) for t in hypothesis_text)
    if not ref:
        return TextScore(1.0, 1.0, 1.0 if not hyp else 0.0, 0, len(hyp))
    correct = np.zeros(len(ref), dtype=bool)
    matched_hyp = 0
    for op in Levenshtein.opcodes(ref, hyp):
        if op.tag == "equal":
            correct[op.src_start:op.src_end] = True
            matched_hyp += op.src_end - op.src_start
    ends = np.cumsum([len(w) for w in words])
    starts = ends - np.array([len(w) for w in words])
    read = sum(bool(correct[s:e].all()) for s, e in zip(starts, ends))
    return TextScore(read / len(words), float(correct.mean()), matched_hyp / len(hyp) if hyp else 0.0, len(words),
                     len(hyp))
