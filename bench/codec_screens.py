"""The learned codec on generated screens: with vs without glyph conditioning, and OCR accuracy per rate.

"with glyph" is screen mode (text layer sent, the codec conditioned on the glyph); "without" codes the same image in
natural mode with the same weights (blank glyph). bpp is the total file (text layer included for screen mode); the
image-layer bpp is reported separately so the gain conditioning buys can be read directly. OCR accuracy is Tesseract on
the decoded image (--render none) against the exact ground truth.

    python bench/codec_screens.py [--count 12] [--width 1024 --height 640]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.container import PicdFile  # noqa: E402
from picd_core.data import SCREEN_KINDS, generate_screen, natural_images_dir  # noqa: E402
from picd_core.image_codecs import get_codec  # noqa: E402
from picd_core.metrics import bits_per_pixel, psnr, word_accuracy  # noqa: E402
from picd_core.metrics.bd import bd_rate  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402
from picd_core.pipeline import decode_picd, encode_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--seed", type=int, default=3000)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=640)
    parser.add_argument("--no-ocr", action="store_true", help="skip the OCR judge (faster)")
    args = parser.parse_args()
    photos = natural_images_dir()
    screens = [generate_screen(args.seed + i, args.width, args.height, kind=SCREEN_KINDS[i % len(SCREEN_KINDS)],
                               photo_dir=photos) for i in range(args.count)]
    levels = get_codec("mlic").quality_range[1]
    print(f"{args.count} generated screens {args.width}x{args.height}; ground-truth layouts as the text layer")
    print(f"{'level':>5} {'mode':<8}{'bpp total':>10}{'bpp image':>10}{'PSNR':>8}{'OCR acc':>9}")
    curves = {"screen": ([], []), "natural": ([], [])}
    for level in range(1, levels + 1):
        for mode in ("screen", "natural"):
            total, image_bpp, p, acc = [], [], [], []
            for s in screens:
                picd = encode_image(s.image, mode=mode, codec="mlic", quality=level, layout=s.layout).picd
                data = picd.to_bytes()
                decoded = decode_picd(PicdFile.from_bytes(data)).image
                total.append(bits_per_pixel(len(data), args.width, args.height))
                image_bpp.append(bits_per_pixel(len(picd.image_layer), args.width, args.height))
                p.append(psnr(s.image, decoded))
                if not args.no_ocr:
                    acc.append(word_accuracy([w.text for w in s.layout], [w.text for w in extract_layout(decoded)]))
            m = statistics.mean
            curves[mode][0].append(m(image_bpp))
            curves[mode][1].append(m(p))
            acc_text = f"{m(acc):9.3f}" if acc else "        -"
            print(f"{level:>5} {mode:<8}{m(total):>10.4f}{m(image_bpp):>10.4f}{m(p):>8.2f}{acc_text}", flush=True)
    try:
        value = bd_rate(curves["natural"][0], curves["natural"][1], curves["screen"][0], curves["screen"][1])
        print(f"BD-rate of the image layer, glyph-conditioned vs unconditioned: {value:+.1f} %")
    except Exception as exc:
        print(f"BD-rate: {exc}")


if __name__ == "__main__":
    main()
