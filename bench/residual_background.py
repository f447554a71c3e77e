"""Measured, not shipped: an inverse-composited background instead of the harmonic fill in redrawn words' boxes.

The decoder draws each redrawn word over the decoded background: out = k·Y + o, per pixel and channel (k = 1 − the
word's coverage, o = its colour times the coverage). Solving that for Y (Y = (X − o) / k where k ≥ --kmin, the fill
elsewhere) makes the composite reproduce the original wherever the image layer codes Y well: the image layer then
carries the redraw's residual (anti-aliasing and hinting the bundled fonts do not match) instead of nothing. This
bench codes the default plan's layout both ways, at the screen bench's points, and prints BD-rate (PSNR) vs plain
AVIF for each (docs/screens.md, "Residual in the word boxes").

    python bench/residual_background.py [--screens 2] [--first 0] [--kmin 0.25]

Real screens: every 3rd file of screens_real (the screen bench's), from --first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from screen_rd import PICD_Q, bd_vs, plain_avif_curve, recode_background  # noqa: E402
from picd_core.data import data_dir  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.layout import TextLayout  # noqa: E402
from picd_core.metrics.image import psnr  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402
from picd_core.pipeline import decode_picd, encode_image  # noqa: E402
from picd_core.text_render import render_text  # noqa: E402


def inverse_composite(image: np.ndarray, layout: TextLayout, fill: np.ndarray, kmin: float) -> np.ndarray:
    """The background Y whose composite with the layout's redrawn words is `image` where the words leave k ≥ kmin."""
    offset = render_text(np.zeros_like(image), layout).astype(np.float64)
    k = (render_text(np.full_like(image, 255), layout).astype(np.float64) - offset) / 255.0
    out = fill.astype(np.float64)
    solvable = k >= kmin
    out[solvable] = np.clip((image[solvable] - offset[solvable]) / k[solvable], 0, 255)
    return np.rint(out).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--screens", type=int, default=2)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--kmin", type=float, default=0.25)
    args = ap.parse_args()
    root = data_dir()
    if root is None:
        sys.exit("no data directory: set PICD_DATA_DIR to the folder holding screens_real/")
    gains = []
    for path in sorted((root / "screens_real").glob("*.png"))[::3][args.first :][: args.screens]:
        image = load_image(path)
        h, w = image.shape[:2]
        layout = extract_layout(image)
        curves = {"avif": plain_avif_curve(image), "picd": [], "residual": []}
        for scale, q in PICD_Q:
            r = encode_image(image, mode="screen", codec="avif", quality=q, layout=layout, image_scale=scale)
            total = len(r.picd.to_bytes())
            curves["picd"].append((total * 8 / (w * h), psnr(image, decode_picd(r.picd).image)))
            size, decoded = recode_background(inverse_composite(image, r.layout, r.background, args.kmin), scale, q)
            bits = (total - len(r.picd.image_layer) + size) * 8
            curves["residual"].append((bits / (w * h), psnr(image, render_text(decoded, r.layout))))
            (b0, p0), (b1, p1) = curves["picd"][-1], curves["residual"][-1]
            print(f"{path.stem[:24]:24s} 1/{scale} q{q:<3d} fill {b0:.4f} bpp {p0:5.2f} dB   residual {b1:.4f} bpp "
                  f"{p1:5.2f} dB", flush=True)
        bd_fill, bd_res = bd_vs(curves["avif"], curves["picd"]), bd_vs(curves["avif"], curves["residual"])
        gains.append((bd_fill, bd_res))
        print(f"== {path.stem}: BD-rate vs plain AVIF: fill {bd_fill:+.1f} %, residual {bd_res:+.1f} %", flush=True)
    print(f"mean BD-rate vs plain AVIF over {len(gains)} screens: fill {np.mean([g[0] for g in gains]):+.1f} %, "
          f"residual (kmin {args.kmin}) {np.mean([g[1] for g in gains]):+.1f} %")


if __name__ == "__main__":
    main()
