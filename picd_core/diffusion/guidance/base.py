"""Instance-level guidance (PICD_SPEC §5.6) as a weighted sum of terms, each with its own loss and step range.

A term is a GuidanceTerm subclass plus a factory registered with `register_term`; `build_guidance` asks every
registered factory for its term (a factory returns None when its inputs are missing or its weight is 0) and
PicdGuidance adds up the active ones. The built-in terms are re-compression (recompression.py) and OCR (ocr.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from ...errors import InvalidInputError
from ...layout import Word

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
    extra_weights: dict[str, float] = field(default_factory=dict)  # weights of other registered terms, by name

    def __post_init__(self) -> None:
        weights = [self.recompression_weight, self.ocr_weight, *self.extra_weights.values()]
        if any(w < 0 for w in weights):
            raise InvalidInputError("guidance weights must be ≥ 0")
        if not 0 <= self.start <= self.end <= 1 or not 0 <= self.ocr_start <= 1:
            raise InvalidInputError("guidance start/end/ocr_start are fractions of the steps with start ≤ end")
        if self.mode not in ("full", "cheap"):
            raise InvalidInputError("guidance mode must be 'full' or 'cheap'")

    def weight(self, term: str) -> float:
        named = {"recompression": self.recompression_weight, "ocr": self.ocr_weight}
        return named[term] if term in named else float(self.extra_weights.get(term, 0.0))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GuidanceContext:
    """What a term factory may use. target: X̄ [1,3,H,W] in [0,1], padded; glyph: [1,1,H,W] in [0,1] (padded as
    for coding) or None; words: transmitted words (empty for natural images); codec: the file's image codec."""

    target: torch.Tensor
    steps: int
    glyph: torch.Tensor | None = None
    words: list[Word] = field(default_factory=list)
    codec: Any = None  # an image_codecs.ImageCodec
    quality: int = 1
    recognizer: Any = None
    seed: int = 0
    notes: list[str] = field(default_factory=list)  # why a requested term is off, for the caller's report

    @property
    def device(self) -> torch.device:
        return self.target.device


class GuidanceTerm(ABC):
    """One loss on the clean estimate x̂₀, with a weight ζ and the fraction [start, end] of the steps it acts in."""

    name: str = ""

    def __init__(self, weight: float, start: float = 0.0, end: float = 1.0) -> None:
        if weight < 0 or not 0 <= start <= end <= 1:
            raise InvalidInputError(f"guidance term {self.name!r}: weight must be ≥ 0 and 0 ≤ start ≤ end ≤ 1")
        self.weight, self.start, self.end = weight, start, end

    def active(self, progress: float) -> bool:
        return self.weight > 0 and self.start <= progress <= self.end

    @abstractmethod
    def loss(self, image: torch.Tensor) -> torch.Tensor:
        """image: [B,3,H,W] in [0,1], padded like the target; returns a differentiable scalar."""


TermFactory = Callable[[GuidanceConfig, GuidanceContext], "GuidanceTerm | None"]
_FACTORIES: dict[str, TermFactory] = {}


def register_term(name: str, factory: TermFactory) -> None:
    """Make a term available to every renderer (CLI and ComfyUI). Its weight is GuidanceConfig.weight(name)."""
    _FACTORIES[name] = factory


def registered_terms() -> list[str]:
    return list(_FACTORIES)


class PicdGuidance:
    """loss(image, progress): Σ ζ_k·loss_k over the terms active at this progress, scaled by 50/steps."""

    def __init__(self, terms: list[GuidanceTerm], steps: int) -> None:
        self.terms = list(terms)
        self.scale = REFERENCE_STEPS / max(1, steps)

    def term(self, name: str) -> GuidanceTerm | None:
        return next((t for t in self.terms if t.name == name), None)

    def active(self, progress: float) -> bool:
        return any(t.active(progress) for t in self.terms)

    def loss(self, image: torch.Tensor, progress: float) -> tuple[torch.Tensor, dict[str, float]]:
        image = image.clamp(0, 1)
        total = image.new_zeros(())
        parts: dict[str, float] = {}
        for t in self.terms:
            if t.active(progress):
                value = t.loss(image)
                parts[t.name] = float(value.detach())
                total = total + t.weight * value
        return total * self.scale, parts


def build_guidance(config: GuidanceConfig, context: GuidanceContext) -> PicdGuidance | None:
    """The guidance every registered term contributes to, or None when no term is on (unguided sampling)."""
    terms = [term for factory in _FACTORIES.values() if (term := factory(config, context)) is not None]
    return PicdGuidance(terms, context.steps) if terms else None
