"""Encode an image to a .picd file and decode it back (text layer + image layer + optional rendering)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .container import PicdFile
from .errors import InvalidInputError
from .glyph import composite_text, glyph_checksum, render_glyph
from .image_codecs import ImageCodec, default_codec_name, get_codec
from .images import to_rgb_array
from .layout import TextLayout
from .limits import check_glyph_work, check_image_size, check_layout, check_padded_size
from .ocr import OcrConfig, extract_layout
from .renderer_check import glyph_checksum_mismatch
from .text_layer import decode_text_layer, encode_text_layer

ENCODE_MODES = ("auto", "screen", "natural")
RENDER_MODES = ("none", "glyph", "diffusion")
# Auto mode calls an image a screen when OCR finds at least this many confident words (natural photos give a few
# spurious low-confidence words at most).
AUTO_SCREEN_MIN_WORDS = 8
AUTO_SCREEN_MIN_CONFIDENCE = 70.0

Progress = Callable[[str], None]


@dataclass
class EncodeResult:
    picd: PicdFile
    layout: TextLayout  # empty in natural mode
    glyph: np.ndarray | None  # uint8 [H, W] at the original size; None in natural mode
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class DecodeResult:
    image: np.ndarray  # the rendered output (uint8 [H, W, 3])
    image_layer: np.ndarray  # X̄, the decoded image layer before rendering
    layout: TextLayout
    glyph: np.ndarray | None
    timings: dict[str, float] = field(default_factory=dict)


def _pad(image: np.ndarray, multiple: int, mode: str) -> np.ndarray:
    height, width = image.shape[:2]
    ph, pw = -height % multiple, -width % multiple
    if not ph and not pw:
        return image
    pad = ((0, ph), (0, pw)) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, pad, mode=mode)


def choose_mode(layout: TextLayout) -> str:
    confident = sum(1 for w in layout.words if (w.confidence or 0.0) >= AUTO_SCREEN_MIN_CONFIDENCE)
    return "screen" if confident >= AUTO_SCREEN_MIN_WORDS else "natural"


def encode_image(
    image: np.ndarray,
    mode: str = "auto",
    codec: str | ImageCodec | None = None,
    quality: int | None = None,
    layout: TextLayout | None = None,
    ocr_config: OcrConfig | None = None,
    progress: Progress | None = None,
) -> EncodeResult:
    """Code an image into a PicdFile. In screen mode the text layer comes from `layout` if given, else from OCR.

    `codec` is a registered name or an ImageCodec instance (e.g. the learned codec with other weights).
    """
    say = progress or (lambda _msg: None)
    if mode not in ENCODE_MODES:
        raise InvalidInputError(f"mode must be one of {ENCODE_MODES}, got {mode!r}")
    rgb = to_rgb_array(image)
    height, width = rgb.shape[:2]
    check_image_size(width, height, encoding=True)
    image_codec = codec if isinstance(codec, ImageCodec) else get_codec(codec or default_codec_name())
    multiple = image_codec.size_multiple
    check_image_size(width + (-width % multiple), height + (-height % multiple), encoding=True, what="padded image")
    quality = image_codec.check_quality(quality)
    timings: dict[str, float] = {}
    if layout is None and mode != "natural":
        t0 = time.perf_counter()
        layout = extract_layout(rgb, ocr_config)
        timings["ocr"] = time.perf_counter() - t0
        say(f"OCR: {len(layout)} words in {timings['ocr']:.2f} s")
    if mode == "auto":
        mode = choose_mode(layout)
        say(f"mode: {mode}")
    text_bytes = glyph = glyph_crc = None
    if mode == "screen":
        check_layout(layout, width, height)  # the decoder's limits, so every file written here decodes
        t0 = time.perf_counter()
        text_bytes = encode_text_layer(layout)
        check_glyph_work(layout.words, width, height, coded_bytes=len(text_bytes), encoding=True)
        glyph = render_glyph(layout, width, height)
        glyph_crc = glyph_checksum(glyph)
        timings["text"] = time.perf_counter() - t0
        say(f"text layer: {len(text_bytes)} bytes")
    else:
        layout = TextLayout()
    t0 = time.perf_counter()
    padded = _pad(rgb, image_codec.size_multiple, "edge")
    padded_glyph = _pad(glyph, image_codec.size_multiple, "edge") if glyph is not None else None
    image_bytes = image_codec.encode(padded, quality, padded_glyph if image_codec.uses_glyph else None)
    timings["image"] = time.perf_counter() - t0
    say(f"image layer ({image_codec.name} q={quality}): {len(image_bytes)} bytes")
    picd = PicdFile(
        mode=mode, width=width, height=height, padded_width=padded.shape[1], padded_height=padded.shape[0],
        image_codec=image_codec.name, image_quality=quality, image_layer=image_bytes, text_layer=text_bytes,
        glyph_crc=glyph_crc,
    )
    return EncodeResult(picd, layout, glyph, timings)


def decode_picd(picd: PicdFile, render: str = "none", progress: Progress | None = None,
                codec: ImageCodec | None = None, renderer=None) -> DecodeResult:
    """Decode both layers and render: 'none' returns the image layer, 'glyph' composites the text over it,
    'diffusion' renders with `renderer` (a picd_core.diffusion.DiffusionRenderer).

    `codec` overrides the registry's instance for the file's codec name (e.g. the learned codec with other weights).
    """
    say = progress or (lambda _msg: None)
    if render not in RENDER_MODES:
        raise InvalidInputError(f"render must be one of {RENDER_MODES}, got {render!r}")
    if codec is not None and codec.name != picd.image_codec:
        raise InvalidInputError(f"the file was coded with {picd.image_codec!r}, not {codec.name!r}")
    if render == "diffusion" and renderer is None:
        raise InvalidInputError("render='diffusion' needs a renderer (a loaded diffusion model)")
    image_codec = codec or get_codec(picd.image_codec)
    # Limits before any layer is decoded: the header's claims decide every allocation below.
    check_image_size(picd.padded_width, picd.padded_height, what="padded image")
    check_padded_size(picd.width, picd.height, picd.padded_width, picd.padded_height, image_codec.size_multiple,
                      image_codec.name)
    timings: dict[str, float] = {}
    layout, glyph = TextLayout(), None
    if picd.text_layer is not None:
        t0 = time.perf_counter()
        layout = decode_text_layer(picd.text_layer)
        check_layout(layout, picd.width, picd.height, encoding=False)
        check_glyph_work(layout.words, picd.width, picd.height, coded_bytes=len(picd.text_layer))
        glyph = render_glyph(layout, picd.width, picd.height)
        timings["text"] = time.perf_counter() - t0
        if picd.glyph_crc is not None and glyph_checksum(glyph) != picd.glyph_crc:
            glyph_checksum_mismatch(image_codec.uses_glyph)  # corrupt file, or a machine that renders differently
        say(f"text layer: {len(layout)} words")
    t0 = time.perf_counter()
    padded_glyph = None
    if glyph is not None and image_codec.uses_glyph:
        padded_glyph = np.pad(glyph, ((0, picd.padded_height - picd.height), (0, picd.padded_width - picd.width)),
                              mode="edge")
    decoded = image_codec.decode(picd.image_layer, picd.padded_width, picd.padded_height, picd.image_quality,
                                 padded_glyph)
    image_layer = np.ascontiguousarray(decoded[: picd.height, : picd.width])
    timings["image"] = time.perf_counter() - t0
    say(f"image layer decoded in {timings['image']:.2f} s")
    output = image_layer
    if render == "glyph" and glyph is not None:
        output = composite_text(image_layer, layout, glyph)
    elif render == "diffusion":
        t0 = time.perf_counter()
        output = renderer.render(image_layer, layout, glyph, picd.mode, codec=image_codec,
                                 quality=picd.image_quality, progress=say).image
        timings["render"] = time.perf_counter() - t0
    return DecodeResult(output, image_layer, layout, glyph, timings)
