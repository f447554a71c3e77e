"""Probe, not shipped: word copies. Screens draw the same word identically wherever it recurs (a label, a column
value, a keyword), so a word whose text and box size match an earlier word's can be copied from the decoded pixels
of that earlier box (offset −1…1 px) instead of being redrawn in a bundled font or kept in the image layer.

Per screen and point of the screen bench: the default plan, then every word (layout order) whose best copy — judged
on the original pixels — leaves less than half the error the plan leaves in its box becomes a copy; copied words are
also removed from the image layer (harmonic fill), the background is re-coded, the redraws drawn and the copies made
in order. Bits charged for the copies (an estimate: the text layer has no copy field): half a bit per word for the
copy flag, per copy log2 of the earlier same-text words plus 3.2 bits of offset. Prints BD-rate (PSNR) vs plain AVIF
of the default and of the default with copies (docs/screens.md, "Word copies").

    python bench/word_copy.py [--screens 1] [--first 1]
    python bench/word_copy.py --stats [--screens 10] [--first 0]

--stats only counts, per screen, the redraw candidates whose text repeats an earlier candidate's at the same box size,
and those whose best copy (original pixels) leaves under 5 % of the error of erasing them.

Real screens: every 3rd file of screens_real (the screen bench's), from --first.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from screen_rd import PICD_Q, bd_vs, plain_avif_curve, recode_background  # noqa: E402
from picd_core.background import harmonic_fill, word_mask  # noqa: E402
from picd_core.data import data_dir  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.layout import Word  # noqa: E402
from picd_core.metrics.image import psnr  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402
from picd_core.redraw import _box_error, redraw_candidate  # noqa: E402
from picd_core.pipeline import decode_picd, encode_image  # noqa: E402
from picd_core.text_render import render_text  # noqa: E402

Copy = tuple[int, int, int, int]  # (target word, source word, dx, dy)


def word_box(word: Word, dx: int = 0, dy: int = 0) -> tuple[int, int, int, int]:
    """The box a copy moves: the word's box plus a pixel on each side (anti-aliasing), shifted by (dx, dy)."""
    return word.x - 1 + dx, word.y - 1 + dy, word.x + word.w + 1 + dx, word.y + word.h + 1 + dy


def best_copy(image: np.ndarray, words: list[Word], i: int) -> tuple[float, int, int, int] | None:
    """(squared error, source word, dx, dy) of the best copy of word i from an earlier word of the same text and box
    size, judged on the original pixels; None without one (or at the image's edge)."""
    height, width = image.shape[:2]
    word = words[i]
    x0, y0, x1, y1 = word_box(word)
    if x0 <= 0 or y0 <= 0 or x1 >= width or y1 >= height:
        return None
    target = image[y0:y1, x0:x1].astype(np.float64)
    best = None
    for j in range(i):
        source = words[j]
        if source.text != word.text or abs(source.w - word.w) > 1 or abs(source.h - word.h) > 1:
            continue
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                sx, sy = source.x - 1 + dx, source.y - 1 + dy
                if sx < 0 or sy < 0 or sx + x1 - x0 > width or sy + y1 - y0 > height:
                    continue
                error = float(((target - image[sy : sy + y1 - y0, sx : sx + x1 - x0]) ** 2).sum())
                if best is None or error < best[0]:
                    best = (error, j, dx, dy)
    return best


def choose_copies(image: np.ndarray, words: list[Word], planned: np.ndarray) -> list[Copy]:
    """Every word whose best copy leaves under half the error the plan (`planned`: its decode) leaves in its box."""
    copies = []
    for i, word in enumerate(words):
        best = best_copy(image, words, i)
        if best is None:
            continue
        if best[0] < 0.5 * _box_error(image, planned, word_box(word)):
            copies.append((i, *best[1:]))
    return copies


def repeat_stats(image: np.ndarray, words: list[Word]) -> tuple[int, int, int]:
    """(candidates, repeats of an earlier candidate's text and box size, repeats copied at < 5 % of erasing)."""
    height, width = image.shape[:2]
    words = [w for w in words if redraw_candidate(w)]
    erased = harmonic_fill(image, word_mask(words, width, height))
    repeats = near = 0
    for i, word in enumerate(words):
        best = best_copy(image, words, i)
        if best is None:
            continue
        repeats += 1
        near += best[0] < 0.05 * max(_box_error(image, erased, word_box(word)), 1e-9)
    return len(words), repeats, near


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--screens", type=int, default=1)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--stats", action="store_true", help="only the repetition counts (see above)")
    args = ap.parse_args()
    root = data_dir()
    if root is None:
        sys.exit("no data directory: set PICD_DATA_DIR to the folder holding screens_real/")
    results = []
    totals = np.zeros(3, dtype=int)
    for path in sorted((root / "screens_real").glob("*.png"))[::3][args.first :][: args.screens]:
        image = load_image(path)
        h, w = image.shape[:2]
        layout = extract_layout(image)
        if args.stats:
            counts = repeat_stats(image, layout.words)
            totals += counts
            print(f"{path.stem[:28]:28s} candidates {counts[0]:4d}  repeated {counts[1]:4d}  copied at < 5 % of "
                  f"erasing {counts[2]:4d}", flush=True)
            continue
        curves = {"avif": plain_avif_curve(image), "picd": [], "copies": []}
        for scale, q in PICD_Q:
            r = encode_image(image, mode="screen", codec="avif", quality=q, layout=layout, image_scale=scale)
            total = len(r.picd.to_bytes())
            planned = decode_picd(r.picd).image
            curves["picd"].append((total * 8 / (w * h), psnr(image, planned)))
            words = r.layout.words
            copies = choose_copies(image, words, planned)
            targets = {i for i, *_ in copies}
            fill = [words[i] for i in targets if words[i].style is None]  # redrawn words are removed already
            background = harmonic_fill(r.background, word_mask(fill, w, h)) if fill else r.background
            size, decoded = recode_background(background, scale, q)
            order = iter(range(len(words)))
            out = render_text(decoded, r.layout.map_words(
                lambda word: replace(word, style=None) if next(order) in targets else word, styled=True))
            for i, j, dx, dy in copies:  # layout order: a source is final before it is copied
                x0, y0, x1, y1 = word_box(words[i])
                sx0, sy0, _, _ = word_box(words[j], dx, dy)
                out[y0:y1, x0:x1] = out[sy0 : sy0 + y1 - y0, sx0 : sx0 + x1 - x0]
            copy_bits = 0.5 * len(words) + sum(
                math.log2(max(1, sum(words[k].text == words[i].text for k in range(i)))) + 3.2 for i, *_ in copies)
            bits = (total - len(r.picd.image_layer) + size) * 8 + copy_bits
            curves["copies"].append((bits / (w * h), psnr(image, out)))
            (b0, p0), (b1, p1) = curves["picd"][-1], curves["copies"][-1]
            print(f"{path.stem[:24]:24s} 1/{scale} q{q:<3d} redrawn {len(r.layout.redrawn):3d} copies {len(copies):3d}"
                  f" | default {b0:.4f} bpp {p0:5.2f} dB | with copies {b1:.4f} bpp {p1:5.2f} dB", flush=True)
        bd = bd_vs(curves["avif"], curves["picd"]), bd_vs(curves["avif"], curves["copies"])
        results.append(bd)
        print(f"== {path.stem}: BD-rate vs plain AVIF: default {bd[0]:+.1f} %, with copies {bd[1]:+.1f} %", flush=True)
    if args.stats:
        print(f"all: candidates {totals[0]}, repeated {totals[1]}, copied at < 5 % of erasing {totals[2]}")
        return
    print(f"mean over {len(results)} screens: default {np.mean([b[0] for b in results]):+.1f} %, with copies "
          f"{np.mean([b[1] for b in results]):+.1f} %")


if __name__ == "__main__":
    main()
