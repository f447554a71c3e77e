"""Instance-level guidance (PICD_SPEC §5.6): re-compression (idempotence) and OCR losses on the clean estimate."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..errors import InvalidInputError
from ..layout import Word

REFERENCE_STEPS = 50  # the weights below are for 50 steps; other step counts scale them by 50/steps


@dataclass
class GuidanceConfig:
    recompression_weight: float = 1.0  # ζ₂: ‖codec(x̂₀) − X̄‖₂ keeps colours and structure faithful
    ocr_weight: float = 0.5  # ζ₁: CTC loss of the recogniser on the transmitted word boxes
    start: float = 0.0  # fraction of the steps where guidance begins
    end: float = 1.0  # … and ends
    ocr_start: float = 0.2  # OCR guidance skips the noisiest 20 %: x̂₀ is unreadable there
    max_words: int = 256  # word crops per step (randomly sampled beyond that)
    mode: str = "full"  # "full" (gradient through the UNet) or "cheap" (gradient w.r.t. x̂₀)

    def __post_init__(self) -> None:
        if self.recompression_weight < 0 or self.ocr_weight < 0:
            raise InvalidInputError("guidance weights must be ≥ 0")
        if not 0 <= self.start <= self.end <= 1 or not 0 <= self.ocr_start <= 1:
            raise InvalidInputError("guidance start/end/ocr_start are fractions of the steps with start ≤ end")
        if self.mode not in ("full", "cheap"):
            raise InvalidInputError("guidance mode must be 'full' or 'cheap'")

    def to_dict(self) -> dict:
        return asdict(self)


class PicdGuidance:
    """loss(image, progress): weighted sum of the re-compression and OCR losses for the current clean estimate.

    target: X̄ [1,3,H,W] in [0,1] (padded like the decoded image); codec_model: a GlyphMLIC (or None to skip the
    re-compression loss); rate: its rate index; glyph: [1,1,H,W] in [0,1] or None; words: transmitted words (the
    OCR loss is off when empty or without a recogniser).
    """

    def __init__(self, config: GuidanceConfig, target: torch.Tensor, steps: int, codec_model=None, rate: int = 0,
                 glyph: torch.Tensor | None = None, words: list[Word] | None = None, recognizer=None,
                 seed: int = 0):
        self.config = config
        self.target = target
        self.codec_model = codec_model
        self.rate = rate
        self.glyph = glyph
        self.words = [w for w in (words or []) if w.w > 0 and w.h > 0 and w.text]
        self.recognizer = recognizer if self.words else None
        self.scale = REFERENCE_STEPS / max(1, steps)
        self._rng = torch.Generator().manual_seed(seed)
        if codec_model is not None:
            codec_model.requires_grad_(False)

    def active(self, progress: float) -> bool:
        c = self.config
        if not c.start <= progress <= c.end:
            return False
        return self._rc_on() or self._ocr_on(progress)

    def _rc_on(self) -> bool:
        return self.codec_model is not None and self.config.recompression_weight > 0

    def _ocr_on(self, progress: float) -> bool:
        return self.recognizer is not None and self.config.ocr_weight > 0 and progress >= self.config.ocr_start

    def recompression_loss(self, image: torch.Tensor) -> torch.Tensor:
        model = self.codec_model
        rate = torch.full((image.shape[0],), self.rate, dtype=torch.long, device=image.device)
        glyph = None if self.glyph is None else self.glyph.to(image.device, image.dtype).expand(image.shape[0], -1, -1, -1)
        recompressed = model(image.float(), glyph, rate)["x_hat"]
        return (recompressed - self.target.to(recompressed)).flatten(1).norm(dim=1).sum()

    def ocr_loss(self, image: torch.Tensor) -> torch.Tensor:
        from .recognizer import ctc_text_loss

        words = self.words
        if len(words) > self.config.max_words:
            pick = torch.randperm(len(words), generator=self._rng)[: self.config.max_words].tolist()
            words = [words[i] for i in sorted(pick)]
        boxes = [(b, w.x, w.y, w.w, w.h, w.text) for b in range(image.shape[0]) for w in words]
        return ctc_text_loss(self.recognizer, image.float(), boxes)

    def loss(self, image: torch.Tensor, progress: float) -> tuple[torch.Tensor, dict[str, float]]:
        image = image.clamp(0, 1)
        total = image.new_zeros(())
        parts: dict[str, float] = {}
        if self._rc_on():
            rc = self.recompression_loss(image)
            parts["recompression"] = float(rc.detach())
            total = total + self.config.recompression_weight * rc
        if self._ocr_on(progress):
            ocr = self.ocr_loss(image)
            parts["ocr"] = float(ocr.detach())
            total = total + self.config.ocr_weight * ocr
        return total * self.scale, parts


def make_autograd_safe(module: torch.nn.Module) -> torch.nn.Module:
    """Replace inference-mode parameters/buffers (created under torch.inference_mode, as in ComfyUI's node
    execution) by ordinary tensors with the same values, so gradients can flow through the module. In place."""
    with torch.inference_mode(False):
        for mod in module.modules():
            for name, param in list(mod._parameters.items()):
                if param is not None and param.is_inference():
                    mod._parameters[name] = torch.nn.Parameter(param.clone(), requires_grad=False)
            for name, buf in list(mod._buffers.items()):
                if buf is not None and buf.is_inference():
                    mod._buffers[name] = buf.clone()
    return module
