"""Guidance terms for the sampler. Adding a term: a module here with a GuidanceTerm subclass and a factory passed to
register_term, plus its import below (the registration)."""

from .base import (REFERENCE_STEPS, GuidanceConfig, GuidanceContext, GuidanceTerm, PicdGuidance, build_guidance,
                   register_term, registered_terms)
from . import recompression, ocr  # noqa: F401,E402  (register the built-in terms, in this order)
from .ocr import OcrTerm
from .recompression import RecompressionTerm

__all__ = ["REFERENCE_STEPS", "GuidanceConfig", "GuidanceContext", "GuidanceTerm", "OcrTerm", "PicdGuidance",
           "RecompressionTerm", "build_guidance", "register_term", "registered_terms"]
