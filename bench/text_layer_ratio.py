"""Text-layer size vs brotli-11 of the same strings and coordinates packed naively.

Naive packings (the better of the two is the baseline):
  csv:    one "x,y,w,h,text" row per word, lines separated by a blank row;
  binary: per word four little-endian uint16 (x, y, w, h) then the UTF-8 text and a NUL byte, per line a word count.
Both are compressed with brotli quality 11. Layouts are the exact ground truth of generated screens, plus (with
--ocr) what Tesseract reads from them, plus (with --real N) what it reads from the first N real screenshots.

    python bench/text_layer_ratio.py [--count 20] [--ocr] [--real N]
"""

from __future__ import annotations

import argparse
import struct
import statistics
import sys
from pathlib import Path

import brotli

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.data import SCREEN_KINDS, generate_screen, natural_images_dir  # noqa: E402
from picd_core.layout import TextLayout  # noqa: E402
from picd_core.text_layer import encode_text_layer, text_layer_stats  # noqa: E402


def naive_csv(layout: TextLayout) -> bytes:
    rows = []
    for line in layout.lines:
        rows += [f"{w.x},{w.y},{w.w},{w.h},{w.text}" for w in line.words] + [""]
    return "\n".join(rows).encode("utf-8", "surrogatepass")


def naive_binary(layout: TextLayout) -> bytes:
    out = bytearray()
    for line in layout.lines:
        out += struct.pack("<H", len(line.words))
        for w in line.words:
            out += struct.pack("<4H", w.x, w.y, w.w, w.h) + w.text.encode("utf-8", "surrogatepass") + b"\0"
    return bytes(out)


def baseline_bytes(layout: TextLayout) -> int:
    return min(len(brotli.compress(naive_csv(layout), quality=11)),
               len(brotli.compress(naive_binary(layout), quality=11)))


def _layouts(args):
    """(name, source, layout): generated screens' ground truth (and OCR with --ocr), then real screens' OCR."""
    photos = natural_images_dir()
    for i in range(args.count):
        screen = generate_screen(args.seed + i, 1280, 800, kind=SCREEN_KINDS[i % len(SCREEN_KINDS)], photo_dir=photos)
        yield screen.kind + str(screen.seed), "truth", screen.layout
        if args.ocr:
            from picd_core.ocr import extract_layout

            yield screen.kind + str(screen.seed), "ocr", extract_layout(screen.image)
    if args.real:
        from picd_core.data import data_dir
        from picd_core.images import load_image
        from picd_core.ocr import extract_layout

        root = data_dir()
        if root is None:
            sys.exit("--real needs the data directory: set PICD_DATA_DIR to the folder holding screens_real/")
        for path in sorted((root / "screens_real").glob("*.png"))[: args.real]:
            yield path.stem[:13], "real", extract_layout(load_image(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--ocr", action="store_true", help="also measure OCR layouts (needs Tesseract)")
    parser.add_argument("--real", type=int, default=0, metavar="N",
                        help="also the OCR layouts of the first N screens_real files (needs Tesseract)")
    args = parser.parse_args()
    print(f"{'screen':<14}{'src':<6}{'words':>6}{'ours B':>8}{'str B':>7}{'geo B':>7}{'coder':>8}"
          f"{'brotli B':>9}{'ratio':>7}{'bits/word':>10}")
    totals: dict[str, list[int]] = {}
    ratios: dict[str, list[float]] = {}
    for name, source, layout in _layouts(args):
        data = encode_text_layer(layout)
        stats = text_layer_stats(layout, data)
        base = baseline_bytes(layout)
        ratio = len(data) / base
        ratios.setdefault(source, []).append(ratio)
        t = totals.setdefault(source, [0, 0, 0])
        t[0] += len(data)
        t[1] += base
        t[2] += len(layout)
        print(f"{name:<14}{source:<6}{len(layout):>6}{len(data):>8}{stats.string_bytes:>7}"
              f"{stats.geometry_bytes:>7}{stats.coder:>8}{base:>9}{ratio:>7.3f}{8 * len(data) / max(len(layout), 1):>10.1f}")
    for source, (ours, base, words) in totals.items():
        print(f"\n[{source}] total {ours} B vs naive brotli-11 {base} B: ratio {ours / base:.3f} "
              f"(median per screen {statistics.median(ratios[source]):.3f}); {8 * ours / words:.1f} bits/word "
              f"over {words} words")


if __name__ == "__main__":
    main()
