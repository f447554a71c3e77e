"""Domain-level conditioning: the prompt built from the decoded text layer (PICD_SPEC §5.2)."""

from __future__ import annotations

from ..layout import TextLayout

SCREEN_PREFIX = "a screenshot with text: "


def domain_prompt(layout: TextLayout, tokenizer=None, max_tokens: int = 77) -> str:
    """"a screenshot with text: w1 w2 …", cut at a word boundary to fit the text encoder's token limit.

    Without a tokenizer the limit is approximated as one token per word (CLIP BPE often needs more, so a tokenizer
    should be passed when one is at hand). An empty layout gives "" (natural images carry no text prompt)."""
    words = [w.text for w in layout.words if w.text.strip()]
    if not words:
        return ""

    def fits(n: int) -> bool:
        prompt = SCREEN_PREFIX + " ".join(words[:n])
        if tokenizer is None:
            return len(prompt.split()) + 2 <= max_tokens
        return len(tokenizer(prompt, truncation=False)["input_ids"]) <= max_tokens

    lo, hi = 0, len(words)  # largest n with fits(n): token counts grow monotonically with n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return (SCREEN_PREFIX + " ".join(words[:lo])).rstrip()
