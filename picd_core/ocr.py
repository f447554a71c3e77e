"""OCR Extract: Tesseract (via pytesseract) -> TextLayout with pixel boxes, in reading order."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .errors import InvalidInputError, OcrUnavailableError
from .images import to_rgb_array
from .layout import Line, TextLayout, Word

_INSTALL_HINT = (
    "install Tesseract: 'apt-get install tesseract-ocr' (Debian/Ubuntu), 'brew install tesseract' (macOS) or the "
    "UB-Mannheim installer (Windows), then 'pip install pytesseract'; set TESSERACT_CMD if it is not on PATH"
)


@dataclass(frozen=True)
class OcrConfig:
    """Tesseract settings: the LSTM engine; sparse-text page segmentation (psm 11) and inverting dark-themed images,
    which raised Tesseract's recall on real screenshots (bench/ocr_recall.py; figures in docs/screens.md)."""

    min_confidence: float = 30.0
    psm: int = 11
    second_psm: int | None = 3  # None: one pass
    oem: int = 1
    lang: str = "eng"
    # Upscaling before OCR helps Tesseract on small UI text; boxes are mapped back to original pixels.
    upscale: float = 2.0
    # Optional passes (psm and second_psm) on the grey image at a second upscale: words only they read are added.
    extra_upscale: float | None = None
    # Tesseract reads dark text on light ground: a dark-themed image (median luminance below this) is inverted first.
    invert_below: int = 110
    # Two more passes (psm 11 and psm 3) on the ink image (`ink_image`): dark panels in light themes, grey line
    # numbers and text on coloured highlights become black on white. Raised recall on screens_real 0.784 -> 0.821.
    ink_passes: bool = True
    ink_min_confidence: float = 50.0  # the ink passes' own floor (they also read photo textures as short words)

    def __post_init__(self) -> None:
        for name in ("min_confidence", "ink_min_confidence"):
            if not 0 <= getattr(self, name) <= 100:
                raise InvalidInputError(f"{name} must be in [0, 100], got {getattr(self, name)}")
        for psm in (self.psm, self.second_psm):
            if psm is not None and psm not in range(0, 14):
                raise InvalidInputError(f"page segmentation mode (psm) must be 0..13, got {psm}")
        if self.oem not in range(0, 4):
            raise InvalidInputError(f"OCR engine mode (oem) must be 0..3, got {self.oem}")
        if not 1.0 <= self.upscale <= 4.0:
            raise InvalidInputError(f"upscale must be in [1, 4], got {self.upscale}")
        if self.extra_upscale is not None and not 1.0 <= self.extra_upscale <= 4.0:
            raise InvalidInputError(f"extra_upscale must be in [1, 4] or None, got {self.extra_upscale}")
        if not self.lang or any(c in self.lang for c in " ;|&"):
            raise InvalidInputError(f"lang must be a Tesseract language code like 'eng' or 'eng+deu', got {self.lang!r}")


def _pytesseract():
    try:
        import pytesseract
    except ImportError:
        raise OcrUnavailableError(f"pytesseract is not installed; {_INSTALL_HINT}") from None
    # Read the setting on every call: pytesseract keeps the command in module state.
    cmd = os.environ.get("TESSERACT_CMD") or "tesseract"
    if shutil.which(cmd) is None:
        raise OcrUnavailableError(f"the tesseract program ({cmd}) was not found; {_INSTALL_HINT}")
    pytesseract.pytesseract.tesseract_cmd = cmd
    return pytesseract


def tesseract_version() -> str:
    return str(_pytesseract().get_tesseract_version())


def available_languages() -> list[str]:
    return list(_pytesseract().get_languages(config=""))


@contextlib.contextmanager
def _single_threaded_tesseract():
    """Run Tesseract with one OpenMP thread unless the user chose otherwise (OMP_THREAD_LIMIT set). Its OpenMP
    threads spin against each other and against the host's work: one page-segmentation pass of a real screenshot
    took 4.98 s with the default and 0.86 s with one thread on a 2-core machine (docs/screens.md, "OCR time").
    pytesseract hands the process environment to the subprocess, so the variable is set only for the call."""
    if "OMP_THREAD_LIMIT" in os.environ:
        yield
        return
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        yield
    finally:
        os.environ.pop("OMP_THREAD_LIMIT", None)


def _tesseract_lines(pytesseract, pil: Image.Image, config: OcrConfig, psm: int, width: int,
                     height: int) -> list[list[Word]]:
    """One Tesseract pass: its confident words, grouped by its own (block, paragraph, line) numbers."""
    scale = pil.width / width  # boxes back to original pixels (each pass may use its own upscale)
    try:
        with _single_threaded_tesseract():
            data = pytesseract.image_to_data(
                pil, lang=config.lang, config=f"--oem {config.oem} --psm {psm}", output_type=pytesseract.Output.DICT
            )
    except pytesseract.TesseractNotFoundError:
        raise OcrUnavailableError(f"the tesseract program was not found; {_INSTALL_HINT}") from None
    except pytesseract.TesseractError as exc:
        message = str(exc.message if hasattr(exc, "message") else exc).strip()
        if "Failed loading language" in message or "traineddata" in message:
            raise OcrUnavailableError(
                f"Tesseract has no data for language {config.lang!r}; install it, e.g. "
                f"'apt-get install tesseract-ocr-{config.lang.split('+')[0]}'"
            ) from None
        raise OcrUnavailableError(f"Tesseract failed: {message}") from None
    groups: dict[tuple[int, int, int], list[Word]] = {}
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        conf = float(data["conf"][i])
        if int(data["level"][i]) != 5 or not text or conf < config.min_confidence:
            continue
        x0 = int(round(int(data["left"][i]) / scale))
        y0 = int(round(int(data["top"][i]) / scale))
        x1 = int(round((int(data["left"][i]) + int(data["width"][i])) / scale))
        y1 = int(round((int(data["top"][i]) + int(data["height"][i])) / scale))
        x0, y0 = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
        x1, y1 = min(max(x1, x0 + 1), width), min(max(y1, y0 + 1), height)
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        groups.setdefault(key, []).append(Word(" ".join(text.split()), x0, y0, x1 - x0, y1 - y0, conf))
    return [sorted(words, key=lambda w: (w.x, w.y)) for words in groups.values()]


def _overlaps(a: Word, b: Word) -> bool:
    """Boxes sharing more than 30 % of the smaller one's area read the same ink."""
    ix = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    iy = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return ix > 0 and iy > 0 and ix * iy > 0.3 * min(a.w * a.h, b.w * b.h)


INK_BLOCK = 16  # px: the local background is the median of each block, then of its 3x3 block neighbourhood
INK_REGION = 32  # px: contrast is normalised by the strongest ink within each region's 3x3 neighbourhood
INK_MIN_CONTRAST = 60.0  # colour distance treated as full ink where a region has no stronger ink (keeps flat areas flat)
INK_GAIN = 1.2  # the strongest ink is usually a glyph's core: its anti-aliased edges then reach full black too


def _block_view(a: np.ndarray, block: int) -> tuple[np.ndarray, int, int]:
    """`a` [H, W, ...] edge-padded to whole blocks, as [rows, cols, block·block, ...]."""
    h, w = a.shape[:2]
    rows, cols = -(-h // block), -(-w // block)
    pad = ((0, rows * block - h), (0, cols * block - w)) + ((0, 0),) * (a.ndim - 2)
    a = np.pad(a, pad, mode="edge")
    a = a.reshape(rows, block, cols, block, *a.shape[2:]).swapaxes(1, 2)
    return a.reshape(rows, cols, block * block, *a.shape[4:]), rows, cols


def _neighbourhood(grid: np.ndarray, reduce) -> np.ndarray:
    """`reduce` (np.median, np.max) over each cell's 3x3 neighbourhood of a [rows, cols, ...] grid."""
    rows, cols = grid.shape[:2]
    padded = np.pad(grid, ((1, 1), (1, 1)) + ((0, 0),) * (grid.ndim - 2), mode="edge")
    return reduce(np.stack([padded[dy:dy + rows, dx:dx + cols] for dy in range(3) for dx in range(3)]), axis=0)


def ink_image(rgb: np.ndarray) -> np.ndarray:
    """Text of any colour on any background as dark ink on white (uint8 [H, W]): each pixel's colour distance from
    its local background (block medians), divided by the strongest distance nearby. Polarity and contrast are
    normalised region by region, which a global grey conversion and inversion cannot do for mixed-theme screens."""
    h, w = rgb.shape[:2]
    blocks, rows, cols = _block_view(rgb.astype(np.float32), INK_BLOCK)
    background = _neighbourhood(np.median(blocks, axis=2), np.median)  # a block full of text takes its neighbours'
    channels = [Image.fromarray(np.ascontiguousarray(background[..., c])).resize(
        (cols * INK_BLOCK, rows * INK_BLOCK), Image.Resampling.BILINEAR) for c in range(3)]
    background = np.stack([np.asarray(c) for c in channels], axis=-1)[:h, :w]
    distance = np.sqrt(((rgb.astype(np.float32) - background) ** 2).sum(axis=-1))
    regions, _, _ = _block_view(distance, INK_REGION)
    strongest = _neighbourhood(regions.max(axis=2), np.max)
    scale = np.maximum(np.repeat(np.repeat(strongest, INK_REGION, 0), INK_REGION, 1)[:h, :w], INK_MIN_CONTRAST)
    ink = np.clip(distance / scale * INK_GAIN, 0.0, 1.0)
    return (255.0 * (1.0 - ink) + 0.5).astype(np.uint8)


def extract_layout(image: np.ndarray | Image.Image, config: OcrConfig | None = None) -> TextLayout:
    """Run Tesseract and return the words it is confident about, grouped into lines, in reading order.

    Passes: psm (default 11) and second_psm (3) on the grey image (inverted when dark-themed), then, with
    `ink_passes`, the same two on `ink_image`; each later pass adds only words on ink no earlier word covers."""
    config = config or OcrConfig()
    rgb = to_rgb_array(image)
    height, width = rgb.shape[:2]
    pytesseract = _pytesseract()
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    if np.median(gray) < config.invert_below:
        gray = 255 - gray

    def scaled(grey: np.ndarray, factor: float = config.upscale) -> Image.Image:
        pil = Image.fromarray(grey)
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        return pil if factor == 1.0 else pil.resize(size, Image.Resampling.LANCZOS)

    pil = scaled(gray)
    passes = [(pil, config.second_psm, config.min_confidence)] if config.second_psm is not None else []
    if config.ink_passes:
        ink = scaled(ink_image(rgb))
        floor = max(config.min_confidence, config.ink_min_confidence)
        passes += [(ink, psm, floor) for psm in (config.psm, config.second_psm) if psm is not None]
    if config.extra_upscale is not None:
        other = scaled(gray, config.extra_upscale)
        passes += [(other, psm, config.min_confidence) for psm in (config.psm, config.second_psm) if psm is not None]
    lines = _tesseract_lines(pytesseract, pil, config, config.psm, width, height)
    for source, psm, floor in passes:
        # a later pass finds what the earlier ones missed (psm 3 reads dense columns psm 11 splits wrongly, psm 11
        # finds isolated UI labels psm 3 drops, the ink image reads dark panels and grey text); only its words on
        # ink no kept word covers are added
        kept = [w for line in lines for w in line]
        for line in _tesseract_lines(pytesseract, source, config, psm, width, height):
            extra = [w for w in line if w.confidence >= floor and not any(_overlaps(w, k) for k in kept)]
            if extra:
                lines.append(extra)
    lines.sort(key=lambda ws: (min(w.y for w in ws), ws[0].x))
    return TextLayout(tuple(Line(tuple(ws)) for ws in lines))
