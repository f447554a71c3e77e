"""How well the bundled fonts redraw real screen text: the redraw's squared error in each word's box, relative to the
text-free fill alone (0 = the redraw is exact, 1 = it is no better than erasing the word), with every bundled font
class against a subset without some of them. This is how font classes were chosen (docs/screens.md, "Fonts").

    python bench/font_fit.py --limit 12 --without hack,hack-bold,fira-code,...

Per screen it prints both ratios and how many words a left-out font fits ≥ 10 % better than every other font.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.background import harmonic_fill, word_mask  # noqa: E402
from picd_core.data import data_dir  # noqa: E402
from picd_core.fonts import FONT_CLASSES, font_id  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402
from picd_core.redraw import redraw_candidate  # noqa: E402
from picd_core.text_style import fit_word  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=12, help="first N files of screens_real")
    ap.add_argument("--without", required=True, help="comma-separated font class names left out of the subset")
    args = ap.parse_args()
    left_out = {font_id(name) for name in args.without.split(",")}
    subset = tuple(i for i in range(len(FONT_CLASSES)) if i not in left_out)
    everything = tuple(range(len(FONT_CLASSES)))
    root = data_dir()
    if root is None:
        sys.exit("no data directory: set PICD_DATA_DIR to the folder holding screens_real/")
    totals = Counter()
    wins = Counter()
    for path in sorted((root / "screens_real").glob("*.png"))[: args.limit]:
        t0 = time.perf_counter()
        image = load_image(path)
        words = [w for w in extract_layout(image).words if redraw_candidate(w)]
        background = harmonic_fill(image, word_mask(words, image.shape[1], image.shape[0]))
        per = Counter()
        for word in words:
            few, full = fit_word(image, background, word, fonts=subset), fit_word(image, background, word, fonts=everything)
            if few is None or full is None:
                continue
            x0, y0, x1, y1 = full.region
            d = image[y0:y1, x0:x1].astype(float) - background[y0:y1, x0:x1]
            per["fill"] += float((d * d).sum())
            per["subset"] += few.error
            per["all"] += full.error
            if full.style.font in left_out and full.error < 0.9 * few.error:
                wins[FONT_CLASSES[full.style.font].name] += 1
                per["wins"] += 1
        totals.update({k: v for k, v in per.items() if k != "wins"})
        fill = max(per["fill"], 1.0)
        print(f"{path.stem[:28]:28s} {len(words):4d} words  error/fill: subset {per['subset'] / fill:.3f}  "
              f"all {per['all'] / fill:.3f}  left-out fonts win on {per['wins']}  ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    fill = max(totals["fill"], 1.0)
    print(f"total error/fill: subset {totals['subset'] / fill:.3f}, all {totals['all'] / fill:.3f} "
          f"({(totals['all'] / max(totals['subset'], 1.0) - 1) * 100:+.1f} %)")
    print("words won:", ", ".join(f"{name} {n}" for name, n in wins.most_common()))


if __name__ == "__main__":
    main()
