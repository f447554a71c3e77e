"""How much the smooth render mode lowers the redraw error on real screens, and whether the encoder's search finds it.

    python bench/smooth_render_probe.py 05_wezterm 11_zettlr 22_mathesar [--words 60]

Per screen, over its first N redraw candidates: the redraw's squared error in the words' boxes relative to erasing
them, for the hinted fit alone (`text_style.fit_word`), with the encoder's smooth search (`text_style.fit_smooth`:
per quarter size, 12 x then 12 y quarter-pixel positions) and with a full search of every quarter size and position
a pixel either side (576 renders a word); the better of hinted and smooth per word, and the seconds each search took.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.background import harmonic_fill, word_mask  # noqa: E402
from picd_core.data import data_dir  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402
from picd_core.redraw import redraw_candidate  # noqa: E402
from picd_core.text_style import (SMOOTH_MAX_HEIGHT, WordFit, fit_smooth, fit_word, score_style,  # noqa: E402
                                   smooth_placement)


def full_search(o, b, word, fit: WordFit) -> WordFit:
    best = fit
    for quarter in (-2, -1, 0, 1):
        for qx in range(4 * fit.style.dx - 4, 4 * fit.style.dx + 8):
            for qy in range(4 * fit.style.dy - 4, 4 * fit.style.dy + 8):
                candidate = score_style(o, b, word, smooth_placement(fit.style, quarter, qx, qy), fit.region)
                if candidate is not None and candidate.error < best.error:
                    best = candidate
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("screens", nargs="+", help="name prefixes of files in screens_real")
    ap.add_argument("--words", type=int, default=60, help="first N redraw candidates per screen")
    args = ap.parse_args()
    root = data_dir()
    if root is None:
        sys.exit("no data directory: set PICD_DATA_DIR to the folder holding screens_real/")
    files = sorted((root / "screens_real").glob("*.png"))
    for prefix in args.screens:
        path = next((p for p in files if p.stem.startswith(prefix)), None)
        if path is None:
            sys.exit(f"no file in screens_real starts with {prefix!r}")
        image = load_image(path)
        words = [w for w in extract_layout(image).words if redraw_candidate(w)]
        background = harmonic_fill(image, word_mask(words, image.shape[1], image.shape[0]))
        erase = hinted = searched = full = 0.0
        t_search = t_full = 0.0
        for word in words[: args.words]:
            fit = fit_word(image, background, word)
            if fit is None or word.h > SMOOTH_MAX_HEIGHT:
                continue
            x0, y0, x1, y1 = fit.region
            o = image[y0:y1, x0:x1].astype(float)
            b = background[y0:y1, x0:x1].astype(float)
            erase += float(((o - b) ** 2).sum())
            hinted += fit.error
            t0 = time.perf_counter()
            searched += fit_smooth(image, background, word, fit).error
            t1 = time.perf_counter()
            full += full_search(o, b, word, fit).error
            t_full += time.perf_counter() - t1
            t_search += t1 - t0
        erase = max(erase, 1.0)
        print(f"{path.stem[:28]:28s} error/erase: hinted {hinted / erase:.3f}  encoder's search {searched / erase:.3f} "
              f"({t_search:.1f} s)  full search {full / erase:.3f} ({t_full:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
