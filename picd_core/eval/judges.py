"""OCR judges for text accuracy: Tesseract and RapidOCR (PP-OCR models, not our encoder's OCR).

Both return text pieces with boxes; `reading_order` puts any such pieces (a judge's output or the reference words) in
the same geometric order (rows top to bottom, left to right within a row), so that the alignment in
`picd_core.metrics.text.text_accuracy` compares like with like whatever the engines' own block orders are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import OcrUnavailableError
from ..layout import TextLayout


@dataclass(frozen=True)
class Piece:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


class Judge(Protocol):
    name: str

    def read(self, image: np.ndarray) -> list[Piece]: ...


def reading_order(pieces: list[Piece]) -> list[str]:
    """Texts in rows (a piece joins a row when its vertical centre is within half a median height of the row's)."""
    if not pieces:
        return []
    heights = np.array([max(1.0, p.y1 - p.y0) for p in pieces])
    tolerance = 0.5 * float(np.median(heights))
    rows: list[list[Piece]] = []
    centres: list[float] = []
    for p in sorted(pieces, key=lambda p: (p.y0 + p.y1) / 2):
        c = (p.y0 + p.y1) / 2
        if rows and abs(c - centres[-1]) <= tolerance:
            rows[-1].append(p)
            centres[-1] = float(np.mean([(q.y0 + q.y1) / 2 for q in rows[-1]]))
        else:
            rows.append([p])
            centres.append(c)
    return [p.text for row in rows for p in sorted(row, key=lambda p: p.x0)]


def reference_words(pieces: list[Piece]) -> list[str]:
    """The words of reference pieces in reading order: `text_accuracy` scores words, and a RapidOCR piece is a whole
    line (scored as one "word" it would count only lines read without a single error)."""
    return [word for text in reading_order(pieces) for word in text.split()]


def rapidocr_reference(image_path: str | Path) -> list[Piece]:
    """RapidOCR's reading of a screens_real image: the `*.rapidocr.json` beside it (lines with 4-point boxes)."""
    pieces = []
    for entry in json.loads(Path(image_path).with_suffix(".rapidocr.json").read_text()):
        xs, ys = [p[0] for p in entry["box"]], [p[1] for p in entry["box"]]
        pieces.append(Piece(entry["text"], min(xs), min(ys), max(xs), max(ys)))
    return pieces


def layout_pieces(layout: TextLayout) -> list[Piece]:
    return [Piece(w.text, w.x, w.y, w.x + w.w, w.y + w.h) for w in layout.words]


class TesseractJudge:
    name = "tesseract"

    def __init__(self) -> None:
        from ..ocr import OcrConfig

        self.config = OcrConfig()

    def read(self, image: np.ndarray) -> list[Piece]:
        from ..ocr import extract_layout

        return layout_pieces(extract_layout(image, self.config))


class RapidOcrJudge:
    """PP-OCRv4 detection + recognition (ONNX models inside the rapidocr_onnxruntime wheel)."""

    name = "rapidocr"

    def __init__(self) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise OcrUnavailableError("the RapidOCR judge needs rapidocr_onnxruntime: pip install 'picd[eval]'") from None
        self.engine = RapidOCR()

    def read(self, image: np.ndarray) -> list[Piece]:
        result, _ = self.engine(np.ascontiguousarray(image[..., ::-1]))  # the engine expects OpenCV's BGR order
        pieces = []
        for box, text, _score in result or []:
            xs, ys = [pt[0] for pt in box], [pt[1] for pt in box]
            pieces.append(Piece(text, min(xs), min(ys), max(xs), max(ys)))
        return pieces


JUDGES = {"tesseract": TesseractJudge, "rapidocr": RapidOcrJudge}


def make_judges(names: list[str]) -> list[Judge]:
    unknown = [n for n in names if n not in JUDGES]
    if unknown:
        raise OcrUnavailableError(f"unknown OCR judge(s) {unknown}; choose from {sorted(JUDGES)}")
    return [JUDGES[n]() for n in names]
