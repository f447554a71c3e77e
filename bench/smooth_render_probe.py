"""A probe for a render mode the decoder does not have yet: words drawn unhinted-looking with quarter-pixel placement
(the font drawn at 4× its size, shifted by 0–7 quarter pixels in x and y, box-filtered down by 4), against the
hinted, integer-placed render the decoder uses today. It answers "would a smooth render mode lower the redraw error
on real screens?" before any format change (docs/screens.md, "Fonts").

    python bench/smooth_render_probe.py 05_wezterm 10_mu 11_zettlr [--words 80]

Per screen: the redraw's squared error in the words' boxes relative to erasing them, hinted (`text_style.fit_word`)
and smooth (same font and size as the hinted fit, best of 4 size steps × 64 sub-pixel phases; colour re-solved).
"""

from __future__ import annotations

import argparse
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.background import harmonic_fill, word_mask  # noqa: E402
from picd_core.data import data_dir  # noqa: E402
from picd_core.fonts import load_font  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402
from picd_core.redraw import redraw_candidate  # noqa: E402
from picd_core.text_render import fitting_size  # noqa: E402
from picd_core.text_style import _solve_color, fit_word  # noqa: E402

OVERSAMPLE = 4


@lru_cache(maxsize=4096)
def _big_patch(font: int, text: str, size: int) -> np.ndarray | None:
    f = load_font(font, size)
    x0, y0, x1, y1 = f.getbbox(text)
    if x1 <= x0 or y1 <= y0:
        return None
    im = Image.new("L", (x1 - x0 + 2 * OVERSAMPLE, y1 - y0 + 2 * OVERSAMPLE), 0)
    ImageDraw.Draw(im).text((-x0 + OVERSAMPLE, -y0 + OVERSAMPLE), text, fill=255, font=f)
    return np.asarray(im).astype(np.float64)


def smooth_coverage(word, font: int, big_size: int, sx: int, sy: int, region) -> np.ndarray | None:
    """Coverage in [0, 1] in the region's frame: the 4×-size render shifted by (sx, sy) sub-pixels, box-filtered."""
    patch = _big_patch(font, word.text, big_size)
    if patch is None:
        return None
    h, w = patch.shape
    shifted = np.zeros((h + 2 * OVERSAMPLE, w + 2 * OVERSAMPLE))
    shifted[sy : sy + h, sx : sx + w] = patch
    hh, ww = (shifted.shape[0] // OVERSAMPLE) * OVERSAMPLE, (shifted.shape[1] // OVERSAMPLE) * OVERSAMPLE
    small = shifted[:hh, :ww].reshape(hh // OVERSAMPLE, OVERSAMPLE, ww // OVERSAMPLE, OVERSAMPLE).mean(axis=(1, 3))
    x0, y0, x1, y1 = region
    frame = np.zeros((y1 - y0, x1 - x0))
    th, tw = small.shape
    ox, oy = word.x + (word.w - tw) // 2 - x0, word.y + (word.h - th) // 2 - y0
    fx0, fy0, fx1, fy1 = max(ox, 0), max(oy, 0), min(ox + tw, frame.shape[1]), min(oy + th, frame.shape[0])
    if fx1 <= fx0 or fy1 <= fy0:
        return None
    frame[fy0:fy1, fx0:fx1] = small[fy0 - oy : fy1 - oy, fx0 - ox : fx1 - ox] / 255
    return frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("screens", nargs="+", help="name prefixes of files in screens_real")
    ap.add_argument("--words", type=int, default=80, help="first N redraw candidates per screen")
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
        hinted = smooth = erase = 0.0
        for word in words[: args.words]:
            fit = fit_word(image, background, word)
            if fit is None:
                continue
            x0, y0, x1, y1 = fit.region
            o = image[y0:y1, x0:x1].astype(np.float64)
            b = background[y0:y1, x0:x1].astype(np.float64)
            erase += float(((o - b) ** 2).sum())
            hinted += fit.error
            size = fitting_size(fit.style.font, word.text, word.w, word.h) + fit.style.size_delta
            best = fit.error
            for k in (-2, -1, 0, 1, 2):
                for sx in range(2 * OVERSAMPLE):
                    for sy in range(2 * OVERSAMPLE):
                        a = smooth_coverage(word, fit.style.font, OVERSAMPLE * size + k, sx, sy, fit.region)
                        if a is None:
                            continue
                        c = _solve_color(o, b, a)
                        best = min(best, float(((o - b * (1 - a[..., None]) - c * a[..., None]) ** 2).sum()))
            smooth += best
        erase = max(erase, 1.0)
        print(f"{path.stem[:28]:28s} error/erase: hinted {hinted / erase:.3f}  best of hinted and smooth "
              f"{smooth / erase:.3f}", flush=True)


if __name__ == "__main__":
    main()
