"""Low-rate table on generated screens: total bpp, text-layer share, and OCR word accuracy of the decoded image
with --render none vs --render glyph (Tesseract reads the decoded image; compared with the exact ground truth).

The encoder runs the real pipeline (Tesseract OCR -> text layer -> glyph -> image codec).

    python bench/screen_table.py [--count 20] [--config avif:10 --config webp:0 ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.container import PicdFile  # noqa: E402
from picd_core.data import SCREEN_KINDS, generate_screen, natural_images_dir  # noqa: E402
from picd_core.metrics import bits_per_pixel, psnr, word_accuracy  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402
from picd_core.pipeline import decode_picd, encode_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--config", action="append", help="codec:quality (repeatable)")
    args = parser.parse_args()
    configs = [c.split(":") for c in (args.config or ["avif:10", "webp:0", "jpeg:5"])]
    photos = natural_images_dir()
    screens = [generate_screen(args.seed + i, args.width, args.height, kind=SCREEN_KINDS[i % len(SCREEN_KINDS)],
                               photo_dir=photos) for i in range(args.count)]
    print(f"{args.count} generated screens {args.width}x{args.height} (seeds {args.seed}..{args.seed + args.count - 1})")
    print(f"{'codec':<8}{'q':>4}{'bpp total':>11}{'text share':>12}{'PSNR none':>11}{'acc none':>10}{'acc glyph':>11}"
          f"{'OCR acc of original':>21}")
    for name, quality in configs:
        bpp, share, acc_none, acc_glyph, acc_orig, psnrs = [], [], [], [], [], []
        start = time.perf_counter()
        for screen in screens:
            truth = [w.text for w in screen.layout.words]
            result = encode_image(screen.image, mode="screen", codec=name, quality=int(quality))
            data = result.picd.to_bytes()
            picd = PicdFile.from_bytes(data)
            sizes = picd.layer_sizes()
            bpp.append(bits_per_pixel(len(data), args.width, args.height))
            share.append(sizes["text"] / sizes["total"])
            acc_orig.append(word_accuracy(truth, [w.text for w in result.layout.words]))
            for render, bucket in (("none", acc_none), ("glyph", acc_glyph)):
                decoded = decode_picd(picd, render=render).image
                if render == "none":
                    psnrs.append(psnr(screen.image, decoded))
                bucket.append(word_accuracy(truth, [w.text for w in extract_layout(decoded).words]))
        m = statistics.mean
        print(f"{name:<8}{quality:>4}{m(bpp):>11.4f}{m(share):>12.1%}{m(psnrs):>11.2f}{m(acc_none):>10.3f}"
              f"{m(acc_glyph):>11.3f}{m(acc_orig):>21.3f}   ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
