"""Text accuracy of a decoded image against reference words."""

from __future__ import annotations

from collections import Counter
from typing import Iterable


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
