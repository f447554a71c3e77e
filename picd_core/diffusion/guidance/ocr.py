"""OCR guidance: CTC loss of the differentiable word recogniser on the transmitted word boxes."""

from __future__ import annotations

import torch

from ...layout import Word
from .base import GuidanceConfig, GuidanceContext, GuidanceTerm, register_term


class OcrTerm(GuidanceTerm):
    name = "ocr"

    def __init__(self, recognizer, words: list[Word], weight: float, start: float = 0.0, end: float = 1.0,
                 max_words: int = 256, seed: int = 0) -> None:
        super().__init__(weight, start, end)
        self.recognizer, self.words, self.max_words = recognizer, words, max_words
        self._rng = torch.Generator().manual_seed(seed)

    def loss(self, image: torch.Tensor) -> torch.Tensor:
        from ..recognizer import ctc_text_loss

        words = self.words
        if len(words) > self.max_words:  # a random subset per step bounds the cost on dense screens
            pick = torch.randperm(len(words), generator=self._rng)[: self.max_words].tolist()
            words = [words[i] for i in sorted(pick)]
        boxes = [(b, w.x, w.y, w.w, w.h, w.text) for b in range(image.shape[0]) for w in words]
        return ctc_text_loss(self.recognizer, image.float(), boxes)


def make_ocr(config: GuidanceConfig, ctx: GuidanceContext) -> OcrTerm | None:
    weight = config.weight(OcrTerm.name)
    words = [w for w in ctx.words if w.w > 0 and w.h > 0 and w.text]
    if weight <= 0 or not words or ctx.recognizer is None:
        return None
    return OcrTerm(ctx.recognizer, words, weight, max(config.start, config.ocr_start), config.end,
                   config.max_words, ctx.seed)


register_term(OcrTerm.name, make_ocr)
