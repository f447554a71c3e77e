"""Typed errors. Every error PICD raises on bad input is a PicdError whose message says what to do."""

from __future__ import annotations


class PicdError(Exception):
    """Base class of all errors PICD raises deliberately (bad input, missing tools, corrupt files)."""


class InvalidInputError(PicdError, ValueError):
    """An argument or input image is not usable (wrong type, shape, range or option)."""


class OcrUnavailableError(PicdError):
    """Tesseract (or its language data) is not installed or cannot be run."""


class BitstreamError(PicdError):
    """A .picd file or a layer inside it is truncated, corrupt or of an unsupported version."""


class UnsupportedBitstreamError(BitstreamError):
    """The file is well formed but needs a feature (version, codec, section) this build does not have."""


class GlyphMismatchError(PicdError):
    """The decoder rendered a different glyph image from the encoder's (different font or renderer build)."""


class CodecUnavailableError(PicdError):
    """An image codec is registered but cannot run here (missing library or weights)."""


class RenderUnavailableError(PicdError):
    """Diffusion rendering cannot run: missing libraries, or a backbone/adaptor/LoRA that cannot be loaded."""
