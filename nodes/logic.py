"""What each node does, in plain Python over torch tensors and picd_core (no ComfyUI imports: tested in CI).

ComfyUI IMAGE tensors are float [B, H, W, C] in [0, 1]; MASK tensors are float [B, H, W]. Custom socket values are
lists with one item per image of the batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw

from picd_core import (BitstreamError, PicdError, PicdFile, TextLayout, UnsupportedBitstreamError, decode_picd,
                       decode_text_layer, encode_image, encode_text_layer, glyph_checksum, render_glyph)
from picd_core.glyph import composite_text
from picd_core.image_codecs import ImageCodec, available_codecs, get_codec
from picd_core.overfit.presets import PRESETS as OVERFIT_PRESETS
from picd_core.metrics import bits_per_pixel
from picd_core.ocr import OcrConfig, extract_layout
from picd_core.pipeline import TEXT_SCOPES, encode_to_size
from picd_core.text_edit import TextEdit
from picd_core.text_render import preview_text, render_text

Progress = Callable[[int, int], None]  # (done, total)
# Saved workflows store the choice's label; the learned codec's says its weights are the shipped ones (weights files
# from models/picd are offered beside it).
_LABELS = {"mlic": "mlic (built-in)"}


class NodeInputError(PicdError):
    """A node got an input it cannot use; the message says which node to connect or what to change."""


# ComfyUI shows an error's type as module.name, and loads custom nodes under their folder path: keep it short.
NodeInputError.__module__ = "picd"


@dataclass(frozen=True)
class CodecHandle:
    label: str
    codec: ImageCodec
    quality: int | None = None  # the loader's quality (checked against codec.quality_range)


# ------------------------------------------------------------------------------------------------ tensors
def images_to_arrays(images: torch.Tensor, node: str) -> list[np.ndarray]:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise NodeInputError(f"{node}: expected an IMAGE batch [B, H, W, 3], got {shape}; connect an IMAGE output")
    arrays = []
    for image in images:
        arr = (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        if arr.shape[-1] == 1:
            arr = np.repeat(arr, 3, axis=-1)
        arrays.append(np.ascontiguousarray(arr[..., :3]))
    return arrays


def arrays_to_images(arrays: list[np.ndarray], node: str) -> torch.Tensor:
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise NodeInputError(f"{node}: the images have different sizes {sorted(shapes)} and cannot form one batch; "
                             "decode them with separate nodes")
    stacked = np.stack([a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=-1) for a in arrays])
    return torch.from_numpy(stacked).float().div_(255.0)


def _check_batch(values: list, batch: int, what: str, node: str, source: str) -> None:
    if not isinstance(values, list) or len(values) != batch:
        count = len(values) if isinstance(values, list) else "no"
        raise NodeInputError(f"{node}: got {count} {what} for {batch} image(s); connect the output of {source} that "
                             "was fed the same image batch")


# ------------------------------------------------------------------------------------------------ text layer
def draw_boxes(image: np.ndarray, layout: TextLayout) -> np.ndarray:
    pil = Image.fromarray(image)
    draw = ImageDraw.Draw(pil)
    for word in layout.words:
        draw.rectangle((word.x, word.y, word.x + word.w - 1, word.y + word.h - 1), outline=(255, 0, 64), width=1)
    return np.asarray(pil)


def ocr_extract(image: torch.Tensor, min_confidence: float = 30.0, language: str = "eng",
                page_segmentation: int = OcrConfig.psm, upscale: float = 2.0,
                second_segmentation: int = OcrConfig.second_psm, progress: Progress | None = None):
    node = "PICD OCR Extract"
    arrays = images_to_arrays(image, node)
    config = OcrConfig(min_confidence=min_confidence, psm=page_segmentation, lang=language.strip(), upscale=upscale,
                       second_psm=None if second_segmentation < 0 else second_segmentation)
    layouts, previews = [], []
    for i, arr in enumerate(arrays):
        layout = extract_layout(arr, config)
        layouts.append(layout)
        previews.append(draw_boxes(arr, layout))
        if progress:
            progress(i + 1, len(arrays))
    summary = "; ".join(f"{len(l)} words in {len(l.lines)} lines" for l in layouts)
    return (layouts, arrays_to_images(previews, node)), summary


def text_encode(text_layout: list[TextLayout]):
    node = "PICD Text Encode"
    if not isinstance(text_layout, list) or not all(isinstance(l, TextLayout) for l in text_layout):
        raise NodeInputError(f"{node}: connect the text_layout output of PICD OCR Extract")
    bits = [encode_text_layer(layout) for layout in text_layout]
    summary = "; ".join(f"{len(b)} bytes for {len(l)} words" for b, l in zip(bits, text_layout))
    return (bits,), summary


def glyph_render(text_layout: list[TextLayout], reference_image: torch.Tensor | None = None, width: int = 0,
                 height: int = 0):
    node = "PICD Glyph Render"
    if not isinstance(text_layout, list) or not all(isinstance(l, TextLayout) for l in text_layout):
        raise NodeInputError(f"{node}: connect a text_layout output (PICD OCR Extract or PICD Decode)")
    source = "set by width/height"
    if reference_image is not None:
        _, height, width, _ = reference_image.shape
        _check_batch(text_layout, reference_image.shape[0], "text layouts", node, "PICD OCR Extract")
        source = "from the reference image"
    elif width <= 0 or height <= 0:
        raise NodeInputError(f"{node}: connect reference_image (the image the text was read from), or set width and "
                             "height above 0")
    glyphs = [render_glyph(layout, width, height) for layout in text_layout]
    images = arrays_to_images(glyphs, node)
    mask = 1.0 - images[..., 0]
    styled = arrays_to_images([preview_text(layout, width, height) for layout in text_layout], node)
    return (images, mask, styled), f"{width}×{height} ({source})"


def _text_edit(replace: str, redact: str, node: str) -> TextEdit | None:
    """'old=new, old2=new2' and 'email, digits, REGEX' widget strings -> a TextEdit (None when both are empty)."""
    try:
        edit = TextEdit.parse([r.strip() for r in replace.split(",") if r.strip()],
                              [r.strip() for r in redact.split(",") if r.strip()])
    except PicdError as err:
        raise NodeInputError(f"{node}: {err}") from err
    return edit or None


def text_edit(image: torch.Tensor, text_layout: list[TextLayout], replace: str = "", redact: str = ""):
    """Replace or redact words after decoding and draw the result over the decoded image layer."""
    node = "PICD Text Edit"
    arrays = images_to_arrays(image, node)
    _check_batch(text_layout, len(arrays), "text layouts", node, "PICD Decode")
    edit = _text_edit(replace, redact, node)
    images, layouts, changed = [], [], 0
    for arr, layout in zip(arrays, text_layout):
        texts = edit.apply(layout) if edit else {}
        edited = TextEdit.edited_layout(layout, texts)
        changed += len(texts)
        if edited.styled:
            images.append(render_text(arr, edited, frozenset(texts)))
        else:
            images.append(composite_text(arr, edited, render_glyph(edited, arr.shape[1], arr.shape[0])))
        layouts.append(edited)
    return (arrays_to_images(images, node), layouts), f"{changed} words changed"


# ------------------------------------------------------------------------------------------------ codec
def registered_codec_choices() -> dict[str, str]:
    """Label -> codec name for every codec in the registry, the default first (unavailable ones too: choosing one
    then says why it cannot run, and a workflow's saved choice stays valid on every machine)."""
    return {_LABELS.get(name, name): name for name in available_codecs()}


def codec_choices(model_files: list[str]) -> list[str]:
    return list(registered_codec_choices()) + [f for f in model_files if f.endswith(".safetensors")]


def codec_quality_range(codec: str, resolve_model_file: Callable[[str], str] | None = None) -> tuple[int, int]:
    """The quality range of a Codec Loader choice, without loading learned-codec weights."""
    registered = registered_codec_choices()
    if registered.get(codec) not in (None, "mlic"):
        return get_codec(registered[codec]).quality_range
    if registered.get(codec) == "mlic":
        from picd_core.mlic.codec import read_manifest

        manifest = read_manifest()
        levels = manifest.get("models", {}).get(manifest.get("default", ""), {}).get("rate_levels")
        return (1, int(levels)) if levels else get_codec("mlic").quality_range
    path = resolve_model_file(codec) if resolve_model_file else None
    if path is None or not Path(path).is_file():
        raise NodeInputError(f"PICD Codec Loader: weights {codec!r} not found; put the .safetensors file in "
                             "models/picd/")
    import json

    from picd_core.mlic.checkpoint import read_metadata

    try:
        lambdas = json.loads(read_metadata(path)["config"]).get("lambdas") or []
    except Exception:
        raise NodeInputError(f"PICD Codec Loader: {codec!r} is not a PICD MLIC weights file") from None
    return (1, len(lambdas))


def check_codec_quality(codec: str, quality: int, resolve_model_file: Callable[[str], str] | None = None) -> None:
    lo, hi = codec_quality_range(codec, resolve_model_file)
    if not lo <= quality <= hi:
        what = "rate level" if registered_codec_choices().get(codec) in (None, "mlic") else "quality"
        raise NodeInputError(f"PICD Codec Loader: quality {quality} is outside {lo}..{hi} for {codec} (its {what}); "
                             f"set quality to {lo}…{hi}")


def load_codec(codec: str, quality: int = 2, preset: str = "medium",
               resolve_model_file: Callable[[str], str] | None = None, device: str = "cpu"):
    """device: where the learned codecs run (mlic's transforms, overfit's fit; entropy coding stays on the CPU)."""
    node = "PICD Codec Loader"
    registered = registered_codec_choices()
    if codec not in registered and resolve_model_file is None:
        raise NodeInputError(f"{node}: unknown codec {codec!r}")
    check_codec_quality(codec, quality, resolve_model_file)
    report = f"{codec}, quality {quality}"
    if registered.get(codec) == "overfit":
        if preset not in OVERFIT_PRESETS:
            raise NodeInputError(f"{node}: unknown preset {preset!r}; choose one of {', '.join(OVERFIT_PRESETS)}")
        fitted = get_codec("overfit").with_options(preset=preset, device=device)
        return (CodecHandle(codec, fitted, quality),), f"{report}, preset {preset}"
    if registered.get(codec) == "mlic" and device != "cpu":
        from picd_core.mlic.codec import builtin_codec

        return (CodecHandle(codec, builtin_codec(device), quality),), report
    if codec in registered:
        return (CodecHandle(codec, get_codec(registered[codec]), quality),), report
    from picd_core.mlic.codec import MlicCodec

    path = resolve_model_file(codec)
    return (CodecHandle(Path(path).name, MlicCodec(path, device=device), quality),), report


def _glyph_u8(glyph: torch.Tensor) -> list[np.ndarray]:
    return [a[..., 0] for a in images_to_arrays(glyph, "PICD Encode")]


def mlic_encode(image: torch.Tensor, codec: CodecHandle, text_bits: list[bytes] | None = None,
                glyph: torch.Tensor | None = None, target_bpp: float = 0.0, redraw: bool = True, replace: str = "",
                redact: str = "", text_layer: str = "all", progress: Progress | None = None):
    node = "PICD Encode"
    edit = _text_edit(replace, redact, node)
    if text_layer not in TEXT_SCOPES:
        raise NodeInputError(f"{node}: text_layer must be one of {', '.join(TEXT_SCOPES)}, got {text_layer!r}")
    if target_bpp < 0:
        raise NodeInputError(f"{node}: target_bpp must be 0 (use the loader's quality) or positive")
    if not isinstance(codec, CodecHandle):
        raise NodeInputError(f"{node}: connect the codec output of PICD Codec Loader")
    arrays = images_to_arrays(image, node)
    lo, hi = codec.codec.quality_range
    quality = codec.codec.default_quality if codec.quality is None else codec.quality
    if not lo <= quality <= hi:
        raise NodeInputError(f"{node}: quality {quality} is outside {lo}..{hi} for codec {codec.label}; set it in "
                             "PICD Codec Loader")
    layouts: list[TextLayout | None] = [None] * len(arrays)
    if text_bits is not None:
        _check_batch(text_bits, len(arrays), "text layers", node, "PICD Text Encode")
        layouts = [decode_text_layer(bits) for bits in text_bits]
    if glyph is not None:
        if text_bits is None:
            raise NodeInputError(f"{node}: a glyph is connected but no text_bits; connect PICD Text Encode too (the "
                                 "glyph must come from the transmitted text layer)")
        glyphs = _glyph_u8(glyph)
        _check_batch(glyphs, len(arrays), "glyph images", node, "PICD Glyph Render")
        for g, layout, arr in zip(glyphs, layouts, arrays):
            expected = render_glyph(layout, arr.shape[1], arr.shape[0])
            if g.shape != expected.shape or glyph_checksum(g) != glyph_checksum(expected):
                raise NodeInputError(f"{node}: the glyph does not match the text layer; feed PICD Glyph Render from "
                                     "the same PICD OCR Extract as PICD Text Encode, with this image as reference")
    streams = []
    losses: list[float] = []
    for i, (arr, layout) in enumerate(zip(arrays, layouts)):
        mode = "natural" if layout is None else "screen"
        image_codec = codec.codec
        if image_codec.name == "overfit":  # the bar follows the fit's iterations; the report shows its last loss
            def fit_progress(done: int, total: int, loss: float, left: float, i: int = i) -> None:
                losses[i:] = [loss]
                if progress:
                    progress(i * total + done, len(arrays) * total)

            image_codec = image_codec.with_options(progress=fit_progress)
        options = dict(mode=mode, codec=image_codec, layout=layout, redraw=redraw, edit=edit, text_scope=text_layer)
        if target_bpp > 0:  # rate control: the quality (and image-layer scale) that lands just under the target
            target = int(target_bpp * arr.shape[0] * arr.shape[1] / 8)
            try:
                streams.append(encode_to_size(arr, target, **options).picd)
            except PicdError as err:
                raise NodeInputError(f"{node}: {err}") from err
        else:
            streams.append(encode_image(arr, quality=quality, **options).picd)
        if progress and not losses:
            progress(i + 1, len(arrays))
    report = bitstream_summary(streams)
    if losses:
        report += f"; fit loss {losses[-1]:.5f}"
    return (streams,), report


def bitstream_summary(streams: list[PicdFile]) -> str:
    parts = []
    for p in streams:
        sizes = p.layer_sizes()
        parts.append(f"{sizes['total']} B, {bits_per_pixel(sizes['total'], p.width, p.height):.4f} bpp "
                     f"({p.mode}, {p.image_codec} q{p.image_quality}"
                     f"{'' if p.image_scale == 1 else f' at 1/{p.image_scale}'}; text {sizes['text']} B, "
                     f"image {sizes['image']} B)")
    return "; ".join(parts)


def _bitstream_error(node: str, err: PicdError, which: str = "") -> NodeInputError:
    """One line naming the node; a damaged file also says what to do (other errors already do)."""
    message = " ".join(str(err).split())
    if isinstance(err, BitstreamError) and not isinstance(err, UnsupportedBitstreamError):
        message += "; load an intact copy of the .picd file, or encode the image again"
    return NodeInputError(f"{node}: {which}{message}")


def _check_bitstreams(bitstream, node: str) -> list[PicdFile]:
    if not isinstance(bitstream, list) or not bitstream or not all(isinstance(p, PicdFile) for p in bitstream):
        raise NodeInputError(f"{node}: connect a bitstream output (PICD Encode or PICD Load Bitstream)")
    return bitstream


def mlic_decode(bitstream: list[PicdFile], codec: CodecHandle | None = None, progress: Progress | None = None):
    node = "PICD Decode"
    streams = _check_bitstreams(bitstream, node)
    images, layouts, glyphs = [], [], []
    for i, picd in enumerate(streams):
        override = codec.codec if codec is not None and codec.codec.name == picd.image_codec else None
        try:
            result = decode_picd(picd, codec=override)
        except PicdError as err:
            # A file that loads (its checksums hold) can still be damaged inside a layer: say so in the node, not
            # with a traceback from inside the codec.
            which = f"bitstream {i + 1} of {len(streams)}: " if len(streams) > 1 else ""
            raise _bitstream_error(node, err, which) from None
        images.append(result.image_layer)
        layouts.append(result.layout)
        glyphs.append(result.glyph if result.glyph is not None else np.full((picd.height, picd.width), 255, np.uint8))
        if progress:
            progress(i + 1, len(streams))
    return (arrays_to_images(images, node), layouts, arrays_to_images(glyphs, node)), bitstream_summary(streams)


def direct_text_render(image: torch.Tensor, text_layout: list[TextLayout]):
    node = "PICD Direct Text Render"
    arrays = images_to_arrays(image, node)
    _check_batch(text_layout, len(arrays), "text layouts", node, "PICD Decode")
    # styled layouts (format 2) redraw the words the encoder removed; position-only ones draw every word
    out = [render_text(arr, layout) if layout.styled else
           composite_text(arr, layout, render_glyph(layout, arr.shape[1], arr.shape[0]))
           for arr, layout in zip(arrays, text_layout)]
    return (arrays_to_images(out, node),), None


def domain_prompt(text_layout: list[TextLayout], max_tokens: int = 77):
    from picd_core.diffusion.prompt import domain_prompt as build

    if not isinstance(text_layout, list) or not text_layout:
        raise NodeInputError("PICD Domain Prompt: connect the text_layout output of PICD Decode")
    prompt = build(text_layout[0], max_tokens=max_tokens)
    note = f" (first of {len(text_layout)} layouts)" if len(text_layout) > 1 else ""
    return (prompt,), (prompt or "(no text: natural image)") + note


# ------------------------------------------------------------------------------------------------ files
_SAFE_PREFIX = re.compile(r"^[\w\-. /]+$")


def save_bitstream(bitstream: list[PicdFile], filename_prefix: str, output_dir: str | Path):
    node = "PICD Save Bitstream"
    streams = _check_bitstreams(bitstream, node)
    prefix = filename_prefix.strip().replace("\\", "/")
    if not prefix or not _SAFE_PREFIX.match(prefix) or ".." in prefix.split("/") or prefix.startswith("/"):
        raise NodeInputError(f"{node}: filename_prefix {filename_prefix!r} must be a relative name like picd/PICD")
    root = Path(output_dir)
    target_dir = (root / prefix).parent
    target_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(prefix).name
    taken = [int(m.group(1)) for p in target_dir.glob(f"{stem}_*.picd")
             if (m := re.fullmatch(rf"{re.escape(stem)}_(\d+)\.picd", p.name))]
    counter = max(taken, default=0) + 1
    saved = []
    for picd in streams:
        path = target_dir / f"{stem}_{counter:05d}.picd"
        picd.save(path)
        saved.append(str(path.relative_to(root)))
        counter += 1
    return (streams,), saved


def load_bitstream(path: str | Path):
    node = "PICD Load Bitstream"
    try:
        return ([PicdFile.load(path)],), None
    except PicdError as exc:
        raise _bitstream_error(node, exc) from None
