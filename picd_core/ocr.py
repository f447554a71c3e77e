"""OCR Extract: Tesseract (via pytesseract) -> TextLayout with pixel boxes, in reading order."""

from __future__ import annotations

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
    # Tesseract reads dark text on light ground: a dark-themed image (median luminance below this) is inverted first.
    invert_below: int = 110

    def __post_init__(self) -> None:
        if not 0 <= self.min_confidence <= 100:
            raise InvalidInputError(f"min_confidence must be in [0, 100], got {self.min_confidence}")
        for psm in (self.psm, self.second_psm):
            if psm is not None and psm not in range(0, 14):
                raise InvalidInputError(f"page segmentation mode (psm) must be 0..13, got {psm}")
        if self.oem not in range(0, 4):
            raise InvalidInputError(f"OCR engine mode (oem) must be 0..3, got {self.oem}")
        if not 1.0 <= self.upscale <= 4.0:
            raise InvalidInputError(f"upscale must be in [1, 4], got {self.upscale}")
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


def _tesseract_lines(pytesseract, pil: Image.Image, config: OcrConfig, psm: int, width: int,
                     height: int) -> list[list[Word]]:
    """One Tesseract pass: its confident words, grouped by its own (block, paragraph, line) numbers."""
    scale = config.upscale
    try:
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


def extract_layout(image: np.ndarray | Image.Image, config: OcrConfig | None = None) -> TextLayout:
    """Run Tesseract and return the words it is confident about, grouped into lines, in reading order."""
    config = config or OcrConfig()
    rgb = to_rgb_array(image)
    height, width = rgb.shape[:2]
    pytesseract = _pytesseract()
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    if np.median(gray) < config.invert_below:
        gray = 255 - gray
    pil = Image.fromarray(gray)
    scale = config.upscale
    if scale != 1.0:
        pil = pil.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS)
    lines = _tesseract_lines(pytesseract, pil, config, config.psm, width, height)
    if config.second_psm is not None:
        # a second segmentation finds what the first missed (e.g. psm 3 reads dense columns psm 11 splits wrongly,
        # psm 11 finds isolated UI labels psm 3 drops); only its words on ink no kept word covers are added
        kept = [w for line in lines for w in line]
        for line in _tesseract_lines(pytesseract, pil, config, config.second_psm, width, height):
            extra = [w for w in line if not any(_overlaps(w, k) for k in kept)]
            if extra:
                lines.append(extra)
    lines.sort(key=lambda ws: (min(w.y for w in ws), ws[0].x))
    return TextLayout(tuple(Line(tuple(ws)) for ws in lines))
