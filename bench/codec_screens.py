"""A glyph-conditioned codec on screens: image-layer bits with vs without glyph conditioning.

"with glyph" is screen mode without redraw (the text layer is sent and the codec conditions on its glyph; every pixel
stays in the image layer); "without" codes the same image in natural mode. The image-layer bpp is reported
separately from the total, so the gain conditioning buys can be read directly. Generated screens use their exact
layouts; real screenshots (`screens_real/`, centre crops) use Tesseract's. OCR accuracy (generated screens only) is
Tesseract on the decoded image against the ground truth. Generated and real screens are reported apart: per quality
the PSNR gap at equal image-layer bits, and with four or more qualities the BD-rate (pchip).

    python bench/codec_screens.py [--codec mlic|overfit] [--qualities 1,3,5] [--preset fast]
                                  [--count 12] [--real 0] [--width 1024 --height 640] [--no-ocr]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.container import PicdFile  # noqa: E402
from picd_core.data import SCREEN_KINDS, data_dir, generate_screen, natural_images_dir  # noqa: E402
from picd_core.errors import InvalidInputError  # noqa: E402
from picd_core.image_codecs import get_codec  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.metrics import bits_per_pixel, psnr, word_accuracy  # noqa: E402
from picd_core.metrics.bd import bd_rate  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402
from picd_core.pipeline import decode_picd, encode_image  # noqa: E402


def _real_screens(count: int, width: int, height: int) -> list:
    folder = (data_dir() or Path(".")) / "screens_real"
    out = []
    for path in sorted(folder.glob("*.png"))[:: max(1, 30 // max(count, 1))][:count]:
        image = load_image(path)
        h, w = image.shape[:2]
        y, x = max(0, (h - height) // 2), max(0, (w - width) // 2)
        crop = image[y : y + height, x : x + width].copy()
        out.append((path.stem, crop, extract_layout(crop), None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec", default="mlic")
    parser.add_argument("--qualities", default=None, help="comma-separated (default: every mlic rate level)")
    parser.add_argument("--preset", default=None, help="overfit: encode preset")
    parser.add_argument("--count", type=int, default=12, help="generated screens")
    parser.add_argument("--real", type=int, default=0, help="real screenshots (centre crops of screens_real/)")
    parser.add_argument("--seed", type=int, default=3000)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=640)
    parser.add_argument("--no-ocr", action="store_true", help="skip the OCR judge (faster)")
    args = parser.parse_args()
    codec = get_codec(args.codec)
    if args.preset:
        codec = codec.with_options(preset=args.preset)
    if not codec.uses_glyph:
        raise SystemExit(f"{args.codec} does not condition on the glyph")
    photos = natural_images_dir()
    items = []
    for i in range(args.count):
        s = generate_screen(args.seed + i, args.width, args.height, kind=SCREEN_KINDS[i % len(SCREEN_KINDS)],
                            photo_dir=photos)
        items.append((f"generated-{i}", s.image, s.layout, s.layout))
    items += _real_screens(args.real, args.width, args.height)
    qualities = ([int(q) for q in args.qualities.split(",")] if args.qualities
                 else list(range(codec.quality_range[0], codec.quality_range[1] + 1)))
    print(f"{args.codec}: {args.count} generated + {args.real} real screens, {args.width}x{args.height}")
    print(f"{'q':>3} {'screens':<10}{'mode':<8}{'bpp total':>10}{'bpp image':>10}{'PSNR':>8}{'OCR acc':>9}")
    kinds = {"generated": [it for it in items if it[3] is not None], "real": [it for it in items if it[3] is None]}
    # curves[kind][mode] = [(mean image-layer bpp, mean PSNR) per quality]
    curves = {kind: {"screen": [], "natural": []} for kind, group in kinds.items() if group}
    for q in qualities:
        for kind, group in kinds.items():
            for mode in ("screen", "natural") if group else ():
                total, image_bpp, p, acc = [], [], [], []
                for _, image, layout, truth in group:
                    picd = encode_image(image, mode=mode, codec=codec, quality=q, layout=layout, redraw=False).picd
                    data = picd.to_bytes()
                    decoded = decode_picd(PicdFile.from_bytes(data), render="none").image
                    h, w = image.shape[:2]
                    total.append(bits_per_pixel(len(data), w, h))
                    image_bpp.append(bits_per_pixel(len(picd.image_layer), w, h))
                    p.append(psnr(image, decoded))
                    if truth is not None and not args.no_ocr:
                        acc.append(word_accuracy([w_.text for w_ in truth],
                                                 [w_.text for w_ in extract_layout(decoded)]))
                m = statistics.mean
                curves[kind][mode].append((m(image_bpp), m(p)))
                acc_text = f"{m(acc):9.3f}" if acc else "        -"
                print(f"{q:>3} {kind:<10}{mode:<8}{m(total):>10.4f}{m(image_bpp):>10.4f}{m(p):>8.2f}{acc_text}",
                      flush=True)
    for kind, modes in curves.items():
        plain = sorted((math.log(b), d) for b, d in modes["natural"])
        for q, (b, d), (a, _) in zip(qualities, modes["screen"], modes["natural"]):
            # PSNR gap at equal image-layer bits: the unconditioned curve interpolated over log rate (held flat
            # beyond its ends, so a gap outside its range is a bound, marked "~").
            inside = plain[0][0] <= math.log(b) <= plain[-1][0]
            gap = d - float(np.interp(math.log(b), [x for x, _ in plain], [y for _, y in plain]))
            print(f"{kind} q={q}: image layer with glyph {b:.4f} bpp vs without {a:.4f} bpp ({(b / a - 1) * 100:+.1f} %);"
                  f" PSNR at equal bits {'' if inside else '~'}{gap:+.2f} dB")
        if len(qualities) >= 4:
            try:
                value = bd_rate(*zip(*modes["natural"]), *zip(*modes["screen"]), method="pchip")
                print(f"{kind}: BD-rate (pchip) of the image layer, glyph-conditioned vs unconditioned: {value:+.1f} %")
            except InvalidInputError as exc:  # e.g. curves that do not overlap in PSNR
                print(f"{kind}: BD-rate: {exc}")

if __name__ == "__main__":
    main()
