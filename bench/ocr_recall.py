"""Text-layer recall on real screenshots: how many of the words RapidOCR reads on the original the encoder's
Tesseract layer holds (word recall after a Levenshtein alignment of both readings, picd_core.metrics.text).

RapidOCR's readings are lines; they are split on spaces into words (a reference "word" is then one word, not a line).

    python bench/ocr_recall.py [--config psm=11,upscale=2,invert_below=110 --config psm=3,invert_below=0,second_psm=none ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.data import data_dir  # noqa: E402
from picd_core.eval.judges import layout_pieces, rapidocr_reference, reading_order, reference_words  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.metrics.text import text_accuracy  # noqa: E402
from picd_core.ocr import OcrConfig, extract_layout  # noqa: E402


def parse_config(text: str) -> OcrConfig:
    kwargs = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        if value == "none":
            kwargs[key] = None
        else:
            kwargs[key] = float(value) if key in ("upscale", "extra_upscale", "min_confidence", "ink_min_confidence",
                                                  "line_min_contrast", "line_min_confidence") else (
                value if key == "char_blacklist" else int(value))
    return OcrConfig(**kwargs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", default=None, help="OcrConfig fields, e.g. psm=3,invert_below=0")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    configs = [parse_config(c) for c in (args.config or [""])]
    root = data_dir()
    files = sorted((root / "screens_real").glob("*.png"))[: args.limit]
    scores = {i: [] for i in range(len(configs))}
    precisions = {i: [] for i in range(len(configs))}
    times = {i: 0.0 for i in range(len(configs))}
    for path in files:
        image = load_image(path)
        ref = reference_words(rapidocr_reference(path))
        cells = []
        for i, config in enumerate(configs):
            t0 = time.perf_counter()
            layout = extract_layout(image, config)
            times[i] += time.perf_counter() - t0
            s = text_accuracy(ref, reading_order(layout_pieces(layout)))
            scores[i].append(s.word_recall)
            precisions[i].append(s.char_precision)
            cells.append(f"{s.word_recall:.3f}/{s.char_precision:.2f}")
        print(f"{path.stem[:30]:30s} {len(ref):5d} words  recall/char precision " + "  ".join(cells), flush=True)
    for i, config in enumerate(configs):
        print(f"{config}: mean word recall {statistics.mean(scores[i]):.3f}, median {statistics.median(scores[i]):.3f}, "
              f"character precision {statistics.mean(precisions[i]):.3f}, "
              f"OCR {times[i] / len(files):.2f} s per image")


if __name__ == "__main__":
    main()
