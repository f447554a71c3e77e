"""PICD core library: text layer, glyph rendering, image-layer codecs and the .picd container.

Pure Python over numpy/Pillow (and torch for the learned parts); never imports ComfyUI.
"""

__version__ = "0.1.0"

from .container import PicdFile
from .errors import (
    BitstreamError,
    CodecUnavailableError,
    GlyphMismatchError,
    InvalidInputError,
    OcrUnavailableError,
    PicdError,
    UnsupportedBitstreamError,
)
from .glyph import composite_text, glyph_checksum, render_glyph
from .layout import Line, TextLayout, Word
from .ocr import OcrConfig, extract_layout
from .pipeline import DecodeResult, EncodeResult, decode_picd, encode_image
from .text_layer import decode_text_layer, encode_text_layer

__all__ = [
    "BitstreamError", "CodecUnavailableError", "DecodeResult", "EncodeResult", "GlyphMismatchError",
    "InvalidInputError", "Line", "OcrConfig", "OcrUnavailableError", "PicdError", "PicdFile", "TextLayout",
    "UnsupportedBitstreamError", "Word", "__version__", "composite_text", "decode_picd", "decode_text_layer",
    "encode_image", "encode_text_layer", "extract_layout", "glyph_checksum", "render_glyph",
]
