"""Re-compression (idempotence) guidance: ‖codec(x̂₀) − X̄‖₂ through the codec's differentiable model."""

from __future__ import annotations

import torch

from .base import GuidanceConfig, GuidanceContext, GuidanceTerm, register_term


class RecompressionTerm(GuidanceTerm):
    name = "recompression"

    def __init__(self, model, target: torch.Tensor, quality: int, glyph: torch.Tensor | None, weight: float,
                 start: float = 0.0, end: float = 1.0) -> None:
        super().__init__(weight, start, end)
        self.model, self.target, self.quality, self.glyph = model, target, quality, glyph

    def loss(self, image: torch.Tensor) -> torch.Tensor:
        recompressed = self.model(image.float(), self.glyph, self.quality)
        return (recompressed - self.target.to(recompressed)).flatten(1).norm(dim=1).sum()


def make_recompression(config: GuidanceConfig, ctx: GuidanceContext) -> RecompressionTerm | None:
    weight = config.weight(RecompressionTerm.name)
    if weight <= 0 or ctx.codec is None:
        return None
    model = ctx.codec.differentiable_model(ctx.device)
    if model is None:
        ctx.notes.append(f"codec {ctx.codec.name} has no differentiable model: re-compression guidance off")
        return None
    return RecompressionTerm(model, ctx.target, ctx.quality, ctx.glyph, weight, config.start, config.end)


register_term(RecompressionTerm.name, make_recompression)
