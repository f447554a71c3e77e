"""Encode an image to a .picd file and decode it back (text layer + image layer + optional rendering)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .container import PicdFile
from .errors import InvalidInputError
from .glyph import composite_text, glyph_checksum, render_glyph
from .redraw import plan_redraw
from .text_edit import TextEdit
from .text_render import render_text
from .image_codecs import ImageCodec, default_codec_name, get_codec
from .images import to_rgb_array
from .layout import TEXT_SCOPES, TextLayout
from .limits import check_glyph_work, check_image_size, check_layout, check_padded_size
from .ocr import OcrConfig, extract_layout
from .renderer_check import glyph_checksum_mismatch
from .text_layer import decode_text_layer, encode_text_layer

ENCODE_MODES = ("auto", "screen", "natural")
RENDER_MODES = ("none", "glyph", "diffusion")
# Auto mode calls an image a screen when OCR finds at least this many confident words of three or more letters or
# digits (OCR reads photo textures as short strings, "=", "SS", "|", some of them confidently).
AUTO_SCREEN_MIN_WORDS = 8
AUTO_SCREEN_MIN_CONFIDENCE = 70.0
AUTO_SCREEN_MIN_CHARS = 3

Progress = Callable[[str], None]


@dataclass
class EncodeResult:
    picd: PicdFile
    layout: TextLayout  # empty in natural mode; styled (redraw decisions) in screen mode with redraw
    glyph: np.ndarray | None  # uint8 [H, W] at the original size; None in natural mode
    timings: dict[str, float] = field(default_factory=dict)
    background: np.ndarray | None = None  # what the image layer coded (the text-free background), screen mode


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


IMAGE_SCALES = (1, 2, 4)


def _to_layer(image: np.ndarray, scale: int, multiple: int) -> np.ndarray:
    """What the image codec codes: the image reduced by `scale` (box average), padded to the codec's multiple."""
    if scale != 1:
        from PIL import Image

        image = np.asarray(Image.fromarray(_pad(image, scale, "edge")).reduce(scale))
    return _pad(image, multiple, "edge")


def _from_layer(decoded: np.ndarray, scale: int, width: int, height: int) -> np.ndarray:
    """The decoded image layer at the image's size: cropped, and (scale > 1) enlarged with bicubic interpolation."""
    if scale == 1:
        return np.ascontiguousarray(decoded[:height, :width])
    from PIL import Image

    cw, ch = -(-width // scale), -(-height // scale)
    small = Image.fromarray(np.ascontiguousarray(decoded[:ch, :cw]))
    return np.ascontiguousarray(np.asarray(small.resize((cw * scale, ch * scale), Image.Resampling.BICUBIC))[:height, :width])


def choose_mode(layout: TextLayout) -> str:
    confident = sum(1 for w in layout.words if (w.confidence or 0.0) >= AUTO_SCREEN_MIN_CONFIDENCE
                    and sum(c.isalnum() for c in w.text) >= AUTO_SCREEN_MIN_CHARS)
    return "screen" if confident >= AUTO_SCREEN_MIN_WORDS else "natural"


def encode_image(
    image: np.ndarray,
    mode: str = "auto",
    codec: str | ImageCodec | None = None,
    quality: int | None = None,
    layout: TextLayout | None = None,
    ocr_config: OcrConfig | None = None,
    progress: Progress | None = None,
    redraw: bool = True,
    edit: TextEdit | None = None,
    image_scale: int = 1,
    text_scope: str = "all",
) -> EncodeResult:
    """Code an image into a PicdFile. In screen mode the text layer comes from `layout` if given, else from OCR;
    in auto mode a given layout with words means screen mode (OCR's confidence rule applies only to OCR layouts).

    `codec` is a registered name or an ImageCodec instance (e.g. the learned codec with other weights).
    With `redraw` (screen mode) the words the decoder can redraw better than the image layer keeps them are removed
    from the image layer and sent with their style (text-layer format 2); without it the text layer carries positions
    only and the image layer codes every pixel. `edit` replaces or redacts words before coding: their original pixels
    never enter the file. `image_scale` 2 or 4 codes the image layer at that fraction of the resolution (the text is
    still redrawn at full resolution): it reaches rates the codec cannot reach at full size. `text_scope` "redrawn"
    drops the words the image layer keeps from the text layer (smaller files; `picd text` then lists only redrawn
    words).
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
    if text_scope not in TEXT_SCOPES:
        raise InvalidInputError(f"text_scope must be one of {TEXT_SCOPES}, got {text_scope!r}")
    if image_scale not in IMAGE_SCALES:
        raise InvalidInputError(f"image_scale must be one of {IMAGE_SCALES}, got {image_scale!r}")
    if image_scale != 1 and image_codec.uses_glyph:
        raise InvalidInputError(f"codec {image_codec.name!r} conditions on the full-size glyph: use image_scale 1")
    timings: dict[str, float] = {}
    given_layout = layout is not None
    if layout is None and mode != "natural":
        t0 = time.perf_counter()
        layout = extract_layout(rgb, ocr_config)
        timings["ocr"] = time.perf_counter() - t0
        say(f"OCR: {len(layout)} words in {timings['ocr']:.2f} s")
    if mode == "auto":
        # A layout the caller gave is ground truth without OCR confidences: use it whenever it has words.
        mode = ("screen" if len(layout) else "natural") if given_layout else choose_mode(layout)
        say(f"mode: {mode}")
    text_bytes = glyph = glyph_crc = None
    coded = rgb
    if mode == "screen":
        check_layout(layout, width, height)  # the decoder's limits, so every file written here decodes
        glyph = render_glyph(layout, width, height)
        glyph_crc = glyph_checksum(glyph)
        padded_glyph = _pad(glyph, image_codec.size_multiple, "edge")
        forced: frozenset[int] = frozenset()
        texts: dict[int, str] = {}
        if edit is not None:
            texts = edit.apply(layout)
            forced = frozenset(texts)
            say(f"text edit: {len(texts)} words changed")
        if redraw or forced:
            code_glyph = padded_glyph if image_codec.uses_glyph else None
            probe = image_codec.probe_codec()

            def code(img: np.ndarray, q: int) -> tuple[int, np.ndarray]:
                layer = _to_layer(img, image_scale, image_codec.size_multiple)
                data = probe.encode(layer, q, code_glyph)
                decoded = probe.decode(data, layer.shape[1], layer.shape[0], q, code_glyph)
                return len(data), _from_layer(decoded, image_scale, width, height)

            plan = plan_redraw(rgb, layout, code, quality, image_codec.neighbour_quality(quality), forced, texts,
                               test_all=redraw)
            layout, coded = plan.layout, plan.background
            timings.update(plan.timings)  # fill, probe, style
            say(f"redraw: {len(layout.redrawn)} of {plan.candidates} words")
        else:  # format 2 with nothing redrawn: the decoder draws no text over the image layer
            layout = layout.map_words(lambda w: w, styled=True)
        if text_scope == "redrawn":
            layout = layout.only_redrawn()
        if texts or text_scope == "redrawn":  # the glyph follows the transmitted text
            glyph = render_glyph(layout, width, height)
            glyph_crc = glyph_checksum(glyph)
        t0 = time.perf_counter()
        text_bytes = encode_text_layer(layout)
        check_glyph_work(layout.words, width, height, coded_bytes=len(text_bytes), encoding=True)
        timings["text"] = time.perf_counter() - t0
        say(f"text layer: {len(text_bytes)} bytes")
    else:
        layout = TextLayout()
    t0 = time.perf_counter()
    padded = _to_layer(coded, image_scale, image_codec.size_multiple)
    padded_glyph = _pad(glyph, image_codec.size_multiple, "edge") if glyph is not None else None
    image_bytes = image_codec.encode(padded, quality, padded_glyph if image_codec.uses_glyph else None)
    timings["image"] = time.perf_counter() - t0
    say(f"image layer ({image_codec.name} q={quality}): {len(image_bytes)} bytes")
    picd = PicdFile(
        mode=mode, width=width, height=height, padded_width=padded.shape[1], padded_height=padded.shape[0],
        image_codec=image_codec.name, image_quality=quality, image_layer=image_bytes, text_layer=text_bytes,
        glyph_crc=glyph_crc, image_scale=image_scale,
    )
    return EncodeResult(picd, layout, glyph, timings, coded if mode == "screen" else None)


def decode_picd(picd: PicdFile, render: str = "glyph", progress: Progress | None = None,
                codec: ImageCodec | None = None, renderer=None, edit: TextEdit | None = None) -> DecodeResult:
    """Decode both layers and render: 'none' returns the image layer as coded, 'glyph' (the default) draws the text
    layer back over it, 'diffusion' renders with `renderer` (a picd_core.diffusion.DiffusionRenderer) from that
    composite.

    Styled text layers (format 2) redraw the words the encoder removed, in their fonts and colours; position-only ones
    (format 1) draw every word in the glyph font with colours taken from the decoded pixels. `edit` changes words
    before drawing. `codec` overrides the registry's instance for the file's codec name.
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
    check_padded_size(picd.layer_width, picd.layer_height, picd.padded_width, picd.padded_height,
                      image_codec.size_multiple, image_codec.name)
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
    image_layer = _from_layer(decoded, picd.image_scale, picd.width, picd.height)
    timings["image"] = time.perf_counter() - t0
    say(f"image layer decoded in {timings['image']:.2f} s")
    output = image_layer
    if render != "none" and glyph is not None:
        t0 = time.perf_counter()
        edited: frozenset[int] = frozenset()
        if edit is not None:
            texts = edit.apply(layout)
            edited = frozenset(texts)
            layout = edit.edited_layout(layout, texts)
        if layout.styled:
            output = render_text(image_layer, layout, edited)
        else:
            output = composite_text(image_layer, layout, render_glyph(layout, picd.width, picd.height) if edit else glyph)
        timings["text_render"] = time.perf_counter() - t0
    if render == "diffusion":
        t0 = time.perf_counter()
        output = renderer.render(output, layout, glyph, picd.mode, codec=image_codec,
                                 quality=picd.image_quality, progress=say).image
        timings["render"] = time.perf_counter() - t0
    return DecodeResult(output, image_layer, layout, glyph, timings)


def encode_to_size(image: np.ndarray, max_bytes: int, mode: str = "auto", codec: str | ImageCodec | None = None,
                   layout: TextLayout | None = None, ocr_config: OcrConfig | None = None,
                   progress: Progress | None = None, **options) -> EncodeResult:
    """The highest-quality file of at most `max_bytes` (the whole .picd): a bisection over the codec's qualities.

    OCR runs once; every probe re-decides the redraws at its rate. When even the lowest quality is too large at full
    resolution, the image layer is coded at half, then a quarter of it (codecs without glyph conditioning). Raises
    InvalidInputError when nothing fits.
    """
    say = progress or (lambda _msg: None)
    if not isinstance(max_bytes, int) or max_bytes < 1:
        raise InvalidInputError(f"the size target must be a positive number of bytes, got {max_bytes!r}")
    rgb = to_rgb_array(image)
    image_codec = codec if isinstance(codec, ImageCodec) else get_codec(codec or default_codec_name())
    if layout is None and mode != "natural":
        layout = extract_layout(rgb, ocr_config)
    best: EncodeResult | None = None
    smallest = None
    for scale in IMAGE_SCALES if not image_codec.uses_glyph else (1,):
        lo, hi = image_codec.quality_range
        while lo <= hi:
            q = (lo + hi) // 2
            result = encode_image(rgb, mode=mode, codec=image_codec, quality=q, layout=layout, image_scale=scale,
                                  **options)
            size = len(result.picd.to_bytes())
            say(f"rate control: scale 1/{scale} q={q} -> {size} bytes (target {max_bytes})")
            if size <= max_bytes:
                best, lo = result, q + 1
            else:
                smallest = size if smallest is None else min(smallest, size)
                hi = q - 1
        if best is not None:
            break
    if best is None:
        raise InvalidInputError(f"cannot fit {max_bytes} bytes with {image_codec.name}: its smallest file is "
                                f"{smallest} bytes; raise the target or choose another codec")
    return best
