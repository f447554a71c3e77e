"""How often the text layer's words are right, by Tesseract confidence: the evidence behind the redraw threshold
(`picd_core.redraw.REDRAW_MIN_CONFIDENCE`) and behind not gating low-confidence words on a second recogniser.

For every word of the encoder's layout on real screenshots it prints, per confidence band: how many words, how many
appear as a whole token in RapidOCR's reading of the original (a lower bound on "read right": RapidOCR joins or
splits some tokens differently), and how many the EasyOCR english_g2 CRNN (`picd_core.diffusion.recognizer`, a
recogniser the encoder does not use) reads identically from the same box — with and without that agreement.

    python bench/ocr_confidence.py [--every 3] [--bands 40,60]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.data import data_dir  # noqa: E402
from picd_core.eval.judges import rapidocr_reference, reference_words  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402


def share(part: int, whole: int) -> str:
    return f"{part / whole:.2f}" if whole else "–"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=int, default=3, help="every n-th file of screens_real (3: the screen bench's 10)")
    ap.add_argument("--bands", default="40,60", help="confidence band edges")
    args = ap.parse_args()

    import torch

    from picd_core.diffusion.recognizer import load_recognizer, read_words

    torch.set_num_threads(1)
    recogniser = load_recognizer()
    edges = [float(e) for e in args.bands.split(",")]
    names = [f"< {edges[0]:g}"] + [f"{a:g}–{b:g}" for a, b in zip(edges, edges[1:])] + [f">= {edges[-1]:g}"]
    # per band: words, in reference, CRNN agrees, agrees and in reference, disagrees and in reference
    counts = {name: Counter() for name in names}
    folder = (data_dir() or Path(".")) / "screens_real"
    files = sorted(folder.glob("*.png"))[:: max(1, args.every)]
    if not files:
        sys.exit(f"no screenshots in {folder}: set PICD_DATA_DIR to the folder holding screens_real/")
    for path in files:
        image = load_image(path)
        layout = extract_layout(image)
        reference = set(reference_words(rapidocr_reference(path)))
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        reads = read_words(recogniser, pixels, [(0, w.x, w.y, w.w, w.h) for w in layout.words])
        for word, read in zip(layout.words, reads):
            confidence = 100.0 if word.confidence is None else word.confidence
            band = names[sum(confidence >= e for e in edges)]
            right, agrees = word.text in reference, read == word.text
            counts[band].update(words=1, right=right, agrees=agrees, agrees_right=agrees and right,
                                disagrees_right=right and not agrees)
        print(f"{path.name}: {len(layout.words)} words", flush=True)
    print(f"\n{len(files)} real screenshots; 'right' = the word is a whole token of RapidOCR's reading")
    print(f"{'confidence':<12}{'words':>7}{'right':>8}{'CRNN agrees':>13}{'right | agrees':>16}{'right | not':>13}")
    for name in names:
        c = counts[name]
        print(f"{name:<12}{c['words']:>7}{share(c['right'], c['words']):>8}{share(c['agrees'], c['words']):>13}"
              f"{share(c['agrees_right'], c['agrees']):>16}"
              f"{share(c['disagrees_right'], c['words'] - c['agrees']):>13}")


if __name__ == "__main__":
    main()
