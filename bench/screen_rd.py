"""Screens: PICD's default screen mode (styled text layer + text-free AVIF background) against plain AVIF and WebP.

For every image: plain AVIF and WebP (Pillow, no text layer) over a quality sweep, and PICD screen mode (Tesseract OCR
once, then one file per quality). Prints per-image BD-rate (PSNR) of PICD vs plain AVIF where the curves overlap,
the lowest bpp each codec reaches, and, with --judge, RapidOCR word recall / character accuracy at the points closest
to the given bpp targets (reference: RapidOCR's reading of the original for real screens, ground truth for generated);
with --judge-curves, word recall at every rate point and BD word recall against plain AVIF (`metrics.bd.bd_score`).

    python bench/screen_rd.py --real 10 --generated 6 [--judge 0.05 0.15] [--judge-curves] [--json out.json]

Real screens: ../shared/data/screens_real (every k-th file when --real is below 30). Generated: picd_core.data.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.data import data_dir, generate_screen, natural_images_dir  # noqa: E402
from picd_core.eval.judges import layout_pieces, rapidocr_reference, reference_words  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.metrics.bd import bd_rate  # noqa: E402
from picd_core.metrics.image import psnr  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402
from picd_core.image_codecs.pillow_codecs import AvifCodec  # noqa: E402
from picd_core.pipeline import decode_picd, encode_image  # noqa: E402
from picd_core.text_layer import encode_text_layer  # noqa: E402

AVIF_Q = (0, 5, 10, 25, 45, 65)
WEBP_Q = (0, 10, 30, 60, 85)
# (image-layer scale, quality): the qualities of plain AVIF at full size, and the reduced layers at quality 0 only
# for the rates below the full-size floor -- what rate control (pipeline.encode_to_size) chooses for a size target
PICD_Q = ((4, 0), (2, 0)) + tuple((1, q) for q in AVIF_Q)
# plain AVIF with the settings of PICD's own AVIF image layer: the comparison is the text layer, not the encoder
AVIF_SETTINGS = dict(AvifCodec.save_options)
CURVES = ("avif", "webp", "picd", "picd_lean")  # picd_lean: text_scope="redrawn" (same image layer, leaner text)


def plain(image: np.ndarray, fmt: str, q: int, options: dict) -> tuple[int, np.ndarray, float]:
    t0 = time.perf_counter()
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, quality=q, **options)
    enc = time.perf_counter() - t0
    return buf.tell(), np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")), enc


def plain_avif_curve(image: np.ndarray) -> list[tuple[float, float]]:
    """[(bpp, PSNR)] of plain AVIF with the bench's settings at its qualities."""
    pixels = image.shape[0] * image.shape[1]
    return [(n * 8 / pixels, psnr(image, dec)) for n, dec, _ in (plain(image, "AVIF", q, AVIF_SETTINGS) for q in AVIF_Q)]


def recode_background(background: np.ndarray, scale: int, quality: int) -> tuple[int, np.ndarray]:
    """(bytes, decoded full-size image) of a screen-mode image layer coded by PICD's AVIF at `scale` and `quality`:
    for probes that change what the layer holds and keep the rest of a file."""
    from picd_core.image_codecs import get_codec
    from picd_core.pipeline import _from_layer, _to_layer

    codec = get_codec("avif")
    h, w = background.shape[:2]
    layer = _to_layer(background, scale, codec.size_multiple)
    data = codec.encode(layer, quality, None)
    return len(data), _from_layer(codec.decode(data, layer.shape[1], layer.shape[0], quality, None), scale, w, h)


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats in both rate and PSNR, by rate: a monotone curve for BD interpolation.

    PICD's redraw decisions change with the quality, so its rate is not monotone in the quality setting."""
    front = []
    for b, p in sorted(points):
        if not front or p > front[-1][1]:
            front.append((b, p))
    return front


def bd_vs(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """BD-rate in percent (negative: test saves bits), or None."""
    a, t = pareto(anchor), pareto(test)
    if len(a) < 4 or len(t) < 4:  # cubic fitting needs four points each
        return None
    try:
        return bd_rate([b for b, _ in a], [p for _, p in a], [b for b, _ in t], [p for _, p in t], method="pchip")
    except Exception:  # curves that do not overlap in PSNR have no BD-rate
        return None


def bd_recall_vs(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """BD word recall (test minus anchor, mean over the rates both reach), or None when they do not overlap."""
    from picd_core.errors import InvalidInputError
    from picd_core.metrics.bd import bd_score

    a, t = dict(anchor), dict(test)  # one score per distinct rate (a codec's floor repeats its lowest rate)
    try:
        return bd_score(list(a), list(a.values()), list(t), list(t.values()))
    except InvalidInputError:  # the curves do not overlap, or a curve has fewer than 2 distinct rates
        return None


def summarise(rows: list[dict], judged: bool) -> None:
    for kind in ("real", "generated"):
        sel = [r for r in rows if r["kind"] == kind]
        if not sel:
            continue
        print(f"\n{kind}: {len(sel)} images")
        for test in ("picd", "picd_lean", "webp"):
            bds = [bd for bd in (bd_vs(r["curves"]["avif"], r["curves"][test]) for r in sel) if bd is not None]
            if bds:
                print(f"  BD-rate (PSNR, pchip, Pareto points) {test} vs plain AVIF {AVIF_SETTINGS}: mean "
                      f"{statistics.mean(bds):+.1f}%, median {statistics.median(bds):+.1f}% over {len(bds)}"
                      f" images whose curves overlap")
        for codec in CURVES:
            print(f"  lowest bpp {codec}: mean {statistics.mean(min(b for b, _ in r['curves'][codec]) for r in sel):.4f}")
        mp = sum(r["mpix"] for r in sel)
        split = {k: sum(r["timings"].get(k, 0) for r in sel) / mp for k in sel[0]["timings"]}  # encode stages, then decode
        print(f"  PICD time per megapixel: OCR {sum(r['ocr_s'] for r in sel) / mp:.2f} s, "
              + ", ".join(f"{k} {v:.2f} s" for k, v in split.items())
              + f"; plain AVIF encode {sum(r.get('avif_s', 0) for r in sel) / mp:.2f} s")
        if all("recall_curves" in r for r in sel):
            for test in ("picd", "picd_lean", "webp"):
                gaps = [bd_recall_vs(r["recall_curves"]["avif"], r["recall_curves"][test]) for r in sel]
                gaps = [g for g in gaps if g is not None]
                if gaps:
                    print(f"  BD word recall (RapidOCR, linear over log bpp) {test} vs plain AVIF: mean "
                          f"{statistics.mean(gaps):+.3f}, median {statistics.median(gaps):+.3f} over {len(gaps)} images")
        if judged and all("ocr" in r for r in sel):
            for key in sel[0]["ocr"]:
                vals = [r["ocr"][key] for r in sel]
                print(f"  RapidOCR {key}: bpp {statistics.mean(v[0] for v in vals):.3f}, word recall "
                      f"{statistics.mean(v[1] for v in vals):.3f}, char recall {statistics.mean(v[2] for v in vals):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=int, default=10)
    ap.add_argument("--generated", type=int, default=6)
    ap.add_argument("--judge", type=float, nargs="*", default=[], help="bpp targets for RapidOCR judging")
    ap.add_argument("--judge-curves", action="store_true",
                    help="RapidOCR word recall at every rate point too, and BD word recall vs plain AVIF")
    ap.add_argument("--avif-subsampling", default=AVIF_SETTINGS["subsampling"])
    ap.add_argument("--json", default=None)
    ap.add_argument("--from-json", default=None, help="only print the summary of an earlier --json run")
    args = ap.parse_args()
    if args.from_json:
        rows = json.loads(Path(args.from_json).read_text())
        summarise(rows, any("ocr" in r for r in rows))
        return
    AVIF_SETTINGS["subsampling"] = args.avif_subsampling
    items = []
    root = data_dir()
    real = sorted((root / "screens_real").glob("*.png")) if root else []
    if real and args.real:
        step = max(1, len(real) // args.real)
        for path in real[::step][: args.real]:
            items.append(("real", path.stem, load_image(path), reference_words(rapidocr_reference(path))))
    photos = natural_images_dir()
    for i in range(args.generated):
        s = generate_screen(3000 + i, 1280, 800, photo_dir=photos)
        items.append(("generated", f"gen_{3000 + i}_{s.kind}", s.image, reference_words(layout_pieces(s.layout))))
    judge = None
    if args.judge or args.judge_curves:
        from picd_core.eval.judges import RapidOcrJudge, reading_order
        from picd_core.metrics.text import text_accuracy

        judge = RapidOcrJudge()
    rows = []
    for kind, name, image, reference in items:
        h, w = image.shape[:2]
        bpp = lambda n: n * 8 / (w * h)  # noqa: E731
        t0 = time.perf_counter()
        layout = extract_layout(image)
        t_ocr = time.perf_counter() - t0
        curves = {k: [] for k in CURVES}
        avif_s = 0.0
        for q in AVIF_Q:
            n, dec, enc_s = plain(image, "AVIF", q, AVIF_SETTINGS)
            avif_s += enc_s / len(AVIF_Q)
            curves["avif"].append((bpp(n), psnr(image, dec), dec))
        for q in WEBP_Q:
            n, dec, _ = plain(image, "WEBP", q, {"method": 6})
            curves["webp"].append((bpp(n), psnr(image, dec), dec))
        timings: dict[str, float] = {}
        redrawn = []
        for scale, q in PICD_Q:
            r = encode_image(image, mode="screen", codec="avif", quality=q, layout=layout, image_scale=scale)
            for k, v in r.timings.items():
                timings[k] = timings.get(k, 0.0) + v / len(PICD_Q)
            t0 = time.perf_counter()
            out = decode_picd(r.picd)
            timings["decode"] = timings.get("decode", 0.0) + (time.perf_counter() - t0) / len(PICD_Q)
            for k, v in out.timings.items():  # decode split: text (layer + glyph), image, text_render
                timings[f"decode_{k}"] = timings.get(f"decode_{k}", 0.0) + v / len(PICD_Q)
            total = len(r.picd.to_bytes())
            curves["picd"].append((bpp(total), psnr(image, out.image), out.image))
            # text_scope="redrawn" codes the same image layer (the AVIF layer does not see the glyph) and decodes to
            # the same pixels (tests/test_styled_text.py): only its text layer is smaller
            lean = encode_text_layer(r.layout.only_redrawn())
            curves["picd_lean"].append((bpp(total - len(r.picd.text_layer) + len(lean)), curves["picd"][-1][1],
                                        out.image))
            redrawn.append(f"{len(r.layout.redrawn)}/{len(r.layout)}")
        row = {"kind": kind, "name": name, "mpix": w * h / 1e6, "ocr_s": t_ocr, "avif_s": avif_s, "timings": timings,
               "redrawn": redrawn,
               "curves": {k: [(round(b, 4), round(p, 2)) for b, p, _ in v] for k, v in curves.items()}}
        row["bd_rate_vs_avif"] = bd_vs(row["curves"]["avif"], row["curves"]["picd"])
        if args.judge_curves:
            recall = {}  # one judge reading per decoded image; picd_lean decodes to picd's pixels
            for codec in ("avif", "webp", "picd"):
                recall[codec] = [text_accuracy(reference, reading_order(judge.read(dec))).word_recall
                                 for _, _, dec in curves[codec]]
            recall["picd_lean"] = recall["picd"]
            row["recall_curves"] = {k: [(round(b, 4), round(r, 3)) for (b, _, _), r in zip(curves[k], recall[k])]
                                    for k in CURVES}
        if args.judge:
            row["ocr"] = {}
            for target in args.judge:
                for codec in CURVES:
                    b, p, dec = min(curves[codec], key=lambda c: abs(c[0] - target))
                    score = text_accuracy(reference, reading_order(judge.read(dec)))
                    row["ocr"][f"{codec}@{target}"] = (round(b, 4), round(score.word_recall, 3),
                                                       round(score.char_recall, 3))
        rows.append(row)
        if args.json:  # after every image, so a long run can be summarised while it goes on
            Path(args.json).write_text(json.dumps(rows, indent=1))
        bd = row["bd_rate_vs_avif"]
        print(f"{kind:9s} {name[:28]:28s} {w}x{h} min bpp avif {curves['avif'][0][0]:.3f} picd "
              f"{curves['picd'][0][0]:.3f} | BD-rate picd vs avif {'%+.1f%%' % bd if bd is not None else 'n/a'}"
              f" | redrawn {redrawn} | {json.dumps(row.get('ocr', {}))}", flush=True)
    summarise(rows, judge is not None)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
