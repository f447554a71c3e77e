"""`picd eval`: encode and decode every image of a dataset at every rate, measure, and write CompressAI-style JSON.

Per-image results are appended to a JSON-lines cache beside the output as they are measured, so an interrupted run
resumes where it stopped (same data, codec and settings; a changed setting starts a new cache).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.paths import data_dir, image_files
from ..data.screens import generate_screen
from ..errors import InvalidInputError
from ..image_codecs import default_codec_name, get_codec
from ..images import load_image
from ..layout import TextLayout
from ..metrics.image import MS_SSIM_MIN_SIDE, bits_per_pixel, ms_ssim, psnr
from ..metrics.text import text_accuracy
from ..pipeline import decode_picd, encode_image
from .judges import layout_pieces, make_judges, reading_order, reference_words

DATASETS = ("kodak", "clic", "screens")


@dataclass
class EvalImage:
    name: str
    image: np.ndarray
    reference: TextLayout | None  # exact ground truth (generated screens), else None: OCR of the original


@dataclass
class EvalConfig:
    data: str  # "kodak", "clic", "screens" or a folder of images
    codec: str | None = None
    qualities: list[int] | None = None  # None: the codec's whole range (learned) or a standard sweep
    renders: list[str] = field(default_factory=lambda: ["none"])
    judges: list[str] = field(default_factory=lambda: ["tesseract", "rapidocr"])
    mode: str = "auto"
    screens: int = 12  # size of the fixed generated-screen set
    screen_size: tuple[int, int] = (1024, 768)
    limit: int | None = None
    perceptual: bool = True  # weight-free perceptual metrics (GMSD, VIFp, HaarPSI)
    deep: list[str] = field(default_factory=list)  # "lpips", "dists", "clip": need their weights (docs/metrics.md)

    def key(self) -> str:
        d = asdict(self)
        d.pop("limit")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def load_dataset(cfg: EvalConfig) -> list[EvalImage]:
    if cfg.data == "screens":
        w, h = cfg.screen_size
        images = []
        for i in range(cfg.screens):
            s = generate_screen(1000 + i, w, h)  # a fixed seed set: every run sees the same screens
            images.append(EvalImage(f"screen_{1000 + i}_{s.kind}", s.image, s.layout))
    else:
        folder = Path(cfg.data)
        if cfg.data in ("kodak", "clic"):
            root = data_dir()
            if root is None or not (root / cfg.data).is_dir():
                raise InvalidInputError(f"dataset {cfg.data!r} not found: set PICD_DATA_DIR to a folder holding "
                                        f"{cfg.data}/")
            folder = root / cfg.data
        if not folder.is_dir():
            raise InvalidInputError(f"--data {cfg.data!r} is neither {', '.join(DATASETS)} nor a folder")
        files = image_files(folder)
        if not files:
            raise InvalidInputError(f"no images in {folder}")
        images = [EvalImage(p.stem, load_image(p), None) for p in files]
    return images[: cfg.limit] if cfg.limit else images


def default_qualities(codec) -> list[int]:
    lo, hi = codec.quality_range
    if hi - lo <= 10:
        return list(range(lo, hi + 1))
    return [q for q in (5, 10, 20, 30, 50, 70) if lo <= q <= hi]


def _perceptual(reference: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    try:
        import torch

        from ..metrics import perceptual_free as pf
    except ImportError:
        return {}
    x = torch.from_numpy(reference).permute(2, 0, 1)[None].float().div(255)
    y = torch.from_numpy(decoded).permute(2, 0, 1)[None].float().div(255)
    out = {}
    for name, fn in (("gmsd", pf.gmsd), ("vif-p", pf.vif_p), ("haarpsi", pf.haarpsi)):
        try:
            out[name] = float(fn(x, y)[0])
        except InvalidInputError:  # image too small for this metric
            pass
    return out


DEEP_METRICS = ("lpips", "dists", "clip", "fid")
FID_PATCH = 256  # HiFiC's patch FID: 256 px crops on a grid and on the grid shifted by half a patch


def _deep_scorers(names: list[str]) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    """Load the requested deep metrics once (a missing weight file raises its one-line error before any work)."""
    unknown = [n for n in names if n not in DEEP_METRICS]
    if unknown:
        raise InvalidInputError(f"unknown deep metric(s) {unknown}; choose from {DEEP_METRICS}")
    if not names:
        return {}
    from ..metrics import deep

    scorers: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {}
    if "lpips" in names:
        model = deep.load_lpips("vgg")
        scorers["lpips"] = lambda a, b: deep.lpips(a, b, model=model)
    if "dists" in names:
        dmodel = deep.load_dists()
        scorers["dists"] = lambda a, b: deep.dists(a, b, model=dmodel)
    if "clip" in names:
        cmodel = deep.load_clip()
        scorers["clip-image-similarity"] = lambda a, b: float(deep.clip_image_similarity(a[None], b[None],
                                                                                          model=cmodel)[0])
    return scorers


class _PatchFeatures:
    """Inception features of every image's FID patches, kept as .npy files beside the cache so that a resumed run
    still has the features of the images it measured before (patch FID is a set metric: computed per curve)."""

    def __init__(self, folder: Path):
        from ..metrics import deep

        self.folder = folder
        self.extractor = deep.load_fid_inception()  # a missing weights file fails here, before any work
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, image: str, quality: int | None = None, render: str | None = None) -> Path:
        return self.folder / (f"{image}.ref.npy" if quality is None else f"{image}.q{quality}.{render}.npy")

    def store(self, path: Path, pixels: np.ndarray) -> None:
        from ..metrics import deep

        if not path.is_file():
            patches = deep.extract_patches(np.array(pixels), FID_PATCH)  # a copy: decoded arrays may be read-only
            np.save(path, deep.image_features(patches, self.extractor) if len(patches) else np.zeros((0, 0)))


def patch_fid_scores(cfg: EvalConfig, cache: Path, records: list[dict]) -> dict[tuple[str, int], float]:
    """(render, quality) -> patch FID between the originals' and the decoded images' patches (needs --deep fid)."""
    from ..metrics import deep

    folder = _fid_folder(cache)
    scores: dict[tuple[str, int], float] = {}
    for render in cfg.renders:
        for q in sorted({r["quality"] for r in records if r["render"] == render}):
            names = sorted({r["image"] for r in records if r["render"] == render and r["quality"] == q})
            ref = [np.load(folder / f"{n}.ref.npy") for n in names]
            dec = [np.load(folder / f"{n}.q{q}.{render}.npy") for n in names]
            ref, dec = [a for a in ref if a.size], [a for a in dec if a.size]
            if sum(len(a) for a in ref) < 2:
                raise InvalidInputError(f"patch FID needs at least 2 patches of {FID_PATCH} px; these images give "
                                        f"{sum(len(a) for a in ref)} (use larger or more images, or drop --deep fid)")
            stats = [deep.feature_statistics(np.concatenate(a)) for a in (ref, dec)]
            scores[(render, q)] = deep.frechet_distance(*stats[0], *stats[1])
    return scores


def _fid_folder(cache: Path) -> Path:
    return cache.with_name(cache.name.removesuffix(".jsonl") + ".fid")


def evaluate(cfg: EvalConfig, cache: Path, renderer=None, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Measure every (image, quality, render); returns the per-image records (cached in `cache`)."""
    say = progress or (lambda _m: None)
    codec = get_codec(cfg.codec or default_codec_name())
    qualities = cfg.qualities or default_qualities(codec)
    for q in qualities:
        codec.check_quality(q)
    if "diffusion" in cfg.renders and renderer is None:
        raise InvalidInputError("--render diffusion needs --model (a diffusion renderer)")
    images = load_dataset(cfg)
    judges = make_judges(cfg.judges)
    deep_scorers = _deep_scorers([n for n in cfg.deep if n != "fid"])
    fid_features = None
    done: dict[tuple, dict] = {}
    header = {"config": asdict(cfg), "key": cfg.key()}
    if cache.is_file():
        lines = cache.read_text().splitlines()
        if lines and json.loads(lines[0]).get("key") == cfg.key():
            for line in lines[1:]:
                r = json.loads(line)
                done[(r["image"], r["quality"], r["render"])] = r
        else:
            cache.unlink()
            shutil.rmtree(_fid_folder(cache), ignore_errors=True)  # features of another configuration
    if not cache.is_file():
        cache.write_text(json.dumps(header) + "\n")
    if "fid" in cfg.deep:
        fid_features = _PatchFeatures(_fid_folder(cache))
    records = []
    total = len(images) * len(qualities) * len(cfg.renders)
    count = 0
    for image in images:
        references: dict[str, list[str]] = {}
        for q in qualities:
            todo = [r for r in cfg.renders if (image.name, q, r) not in done]
            records += [done[(image.name, q, r)] for r in cfg.renders if (image.name, q, r) in done]
            count += len(cfg.renders) - len(todo)
            if not todo:
                continue
            if not references:
                for judge in judges:
                    pieces = layout_pieces(image.reference) if image.reference is not None else judge.read(image.image)
                    references[judge.name] = reference_words(pieces)
            t0 = time.perf_counter()
            layout = image.reference if image.reference is not None and cfg.mode != "natural" else None
            encoded = encode_image(image.image, mode="screen" if layout is not None else cfg.mode, codec=codec,
                                   quality=q, layout=layout)
            encode_s = time.perf_counter() - t0
            data = encoded.picd.to_bytes()
            h, w = image.image.shape[:2]
            for render in todo:
                t0 = time.perf_counter()
                decoded = decode_picd(encoded.picd, render=render, codec=codec, renderer=renderer).image
                decode_s = time.perf_counter() - t0
                record = {"image": image.name, "quality": q, "render": render, "mode": encoded.picd.mode,
                          "bpp": bits_per_pixel(len(data), w, h), "psnr-rgb": psnr(image.image, decoded),
                          "encoding_time": encode_s, "decoding_time": decode_s}
                if min(h, w) >= MS_SSIM_MIN_SIDE:  # smaller images have no MS-SSIM (5 scales)
                    record["ms-ssim-rgb"] = ms_ssim(image.image, decoded)
                for judge in judges:
                    score = text_accuracy(references[judge.name], reading_order(judge.read(decoded)))
                    record[f"text-word-recall-{judge.name}"] = score.word_recall
                    record[f"text-char-f1-{judge.name}"] = score.char_f1
                if cfg.perceptual:
                    record.update(_perceptual(image.image, decoded))
                for name, score in deep_scorers.items():
                    record[name] = score(image.image, decoded)
                if fid_features is not None:
                    fid_features.store(fid_features.path(image.name), image.image)
                    fid_features.store(fid_features.path(image.name, q, render), decoded)
                with cache.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                records.append(record)
                count += 1
                say(f"[{count}/{total}] {image.name} q={q} {render}: {record['bpp']:.4f} bpp, "
                    f"{record['psnr-rgb']:.2f} dB")
    return records


def summarise(records: list[dict], cfg: EvalConfig, codec_name: str,
              set_metrics: dict[str, dict[tuple[str, int], float]] | None = None) -> dict[str, dict]:
    """One CompressAI-style curve per render mode: mean of every metric over images, per quality; set_metrics
    (name -> (render, quality) -> value, e.g. patch FID) are added as they are."""
    curves = {}
    for render in cfg.renders:
        rows = [r for r in records if r["render"] == render]
        qualities = sorted({r["quality"] for r in rows})
        metrics = list(dict.fromkeys(k for r in rows for k in r if k not in ("image", "quality", "render", "mode")))
        results: dict[str, list] = {"quality": qualities}
        for m in metrics:
            results[m] = [float(np.mean([r[m] for r in rows if r["quality"] == q and m in r])) for q in qualities]
        for m, values in (set_metrics or {}).items():
            results[m] = [values[(render, q)] for q in qualities]
        curves[render] = {
            "name": f"PICD {codec_name} render={render}",
            "description": f"{cfg.data}: {len({r['image'] for r in rows})} images, codec {codec_name}, "
                           f"render {render}, mode {cfg.mode}; text accuracy judged by {', '.join(cfg.judges)} "
                           f"(docs/metrics.md)",
            "results": results,
        }
    return curves


def plot_rd(curves: dict[str, dict], path: Path, extra: list[dict] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_curves = list(curves.values()) + list(extra or [])
    text_keys = sorted({k for c in all_curves for k in c["results"] if k.startswith("text-word-recall-")})
    panels = ["psnr-rgb", "ms-ssim-rgb"] + text_keys
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4))
    for ax, key in zip(np.atleast_1d(axes), panels):
        for c in all_curves:
            if key in c["results"]:
                ax.plot(c["results"]["bpp"], c["results"][key], "o-", label=c["name"], markersize=3)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
