"""The `picd` command line. Errors print one line and exit non-zero; PICD_DEBUG=1 shows tracebacks."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from . import __version__
from .container import PicdFile
from .errors import InvalidInputError, PicdError
from .image_codecs import available_codecs, default_codec_name, get_codec
from .overfit.presets import PRESETS as OVERFIT_PRESETS
from .images import load_image, save_image
from .metrics import bits_per_pixel
from .ocr import OcrConfig, extract_layout
from .pipeline import ENCODE_MODES, RENDER_MODES, TEXT_SCOPES, decode_picd, encode_image, encode_to_size

EXIT_ERROR = 2


MODEL_SIZES = ("default", "large", "tiny")  # presets of picd_core.mlic.elic.ElicConfig.preset


def _progress(args: argparse.Namespace):
    if getattr(args, "quiet", False):
        return None
    return lambda message: print(f"  {message}", file=sys.stderr, flush=True)


def _ocr_config(args: argparse.Namespace) -> OcrConfig:
    return OcrConfig(min_confidence=args.min_confidence, psm=args.psm, lang=args.lang, upscale=args.ocr_upscale,
                     second_psm=None if args.second_psm < 0 else args.second_psm, ink_passes=not args.no_ink_passes,
                     line_pass=not args.no_line_pass, reread_pass=not args.no_reread_pass)


def _text_edit(args: argparse.Namespace):
    from .text_edit import TextEdit

    edit = TextEdit.parse(args.replace, args.redact)
    return edit or None


def _add_edit_options(p: argparse.ArgumentParser, when: str) -> None:
    g = p.add_argument_group(f"text edit ({when})")
    g.add_argument("--replace", action="append", metavar="OLD=NEW", help="replace a whole word (repeatable)")
    g.add_argument("--redact", action="append", metavar="PATTERN",
                   help="draw words matching email, digits, url or a regular expression as solid boxes (repeatable)")


def _add_ocr_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("OCR")
    g.add_argument("--lang", default="eng", help="Tesseract language(s), e.g. eng or eng+deu (default: eng)")
    g.add_argument("--psm", type=int, default=OcrConfig.psm,
                   help=f"Tesseract page segmentation mode (default: {OcrConfig.psm}, sparse text)")
    g.add_argument("--second-psm", type=int, default=OcrConfig.second_psm,
                   help=f"a second pass whose extra words are added (default: {OcrConfig.second_psm}; -1: none)")
    g.add_argument("--no-ink-passes", action="store_true",
                   help="skip the passes on the ink image (local-contrast normalised): faster, lower recall on screens")
    g.add_argument("--no-line-pass", action="store_true",
                   help="skip the pass that re-reads text lines no word covers (faint line numbers, labels)")
    g.add_argument("--no-reread-pass", action="store_true",
                   help="skip the last pass that re-reads each text row for dropped punctuation ([20:03:28], 4200.00)")
    g.add_argument("--min-confidence", type=float, default=30.0, help="drop words below this confidence (default: 30)")
    g.add_argument("--ocr-upscale", type=float, default=2.0, help="upscale before OCR, 1..4 (default: 2)")


def _print_layout(layout, as_json: bool) -> int:
    if as_json:
        print(layout.to_json())
    else:
        for line in layout.lines:
            print(line.text)
    return 0


def cmd_ocr(args: argparse.Namespace) -> int:
    return _print_layout(extract_layout(load_image(args.image), _ocr_config(args)), args.json)


def _output_path(path: str, suffix: str) -> Path:
    out = Path(path)
    if out.is_dir():
        raise PicdError(f"output {out} is a folder; give a file name ending in {suffix}")
    return out


def _encode_codec(args: argparse.Namespace):
    """The codec name, or for the overfitted codec an instance with the chosen preset and a progress line."""
    if args.codec != "overfit":
        if args.preset is not None:
            raise PicdError("--preset applies to --codec overfit only")
        return args.codec
    codec = get_codec("overfit")
    say = None
    if not args.quiet:
        def say(done: int, total: int, loss: float, left: float) -> None:
            end = "\n" if done == total else "\r"
            print(f"  fit {done}/{total}  loss {loss:.5f}  ETA {left:.0f} s   ", end=end, file=sys.stderr, flush=True)
    return codec.with_options(preset=args.preset, progress=say)


def cmd_encode(args: argparse.Namespace) -> int:
    out = _output_path(args.output, ".picd")
    if out.exists() and not args.force:
        raise PicdError(f"{out} exists; pass --force to overwrite it")
    image = load_image(args.image)
    start = time.perf_counter()
    h, w = image.shape[:2]
    options = dict(mode=args.mode, codec=_encode_codec(args), ocr_config=_ocr_config(args),
                   progress=_progress(args), redraw=not args.no_redraw, edit=_text_edit(args),
                   text_scope=args.text_layer)
    if args.bpp is not None and args.max_bytes is not None:
        raise PicdError("give either --bpp or --max-bytes, not both")
    if args.bpp is not None or args.max_bytes is not None:
        if args.quality is not None:
            raise PicdError("--quality and a size target (--bpp/--max-bytes) exclude each other")
        if args.bpp is not None and not args.bpp > 0:
            raise PicdError(f"--bpp must be positive, got {args.bpp}")
        if args.image_scale is not None:
            raise PicdError("--image-scale and a size target (--bpp/--max-bytes) exclude each other")
        target = args.max_bytes if args.max_bytes is not None else int(args.bpp * w * h / 8)
        result = encode_to_size(image, target, **options)
    else:
        result = encode_image(image, quality=args.quality, image_scale=args.image_scale or 1, **options)
    size = result.picd.save(out)
    sizes = result.picd.layer_sizes()
    print(f"{out}: {size} bytes, {bits_per_pixel(size, w, h):.4f} bpp ({result.picd.mode} mode, "
          f"{result.picd.image_codec} q={result.picd.image_quality}"
          f"{'' if result.picd.image_scale == 1 else f' at 1/{result.picd.image_scale} size'}; text {sizes['text']} B, image {sizes['image']} B, "
          f"container {sizes['container']} B) in {time.perf_counter() - start:.2f} s")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    out = _output_path(args.output, ".png")
    if out.exists() and not args.force:
        raise PicdError(f"{out} exists; pass --force to overwrite it")
    start = time.perf_counter()
    picd = PicdFile.load(args.input)
    renderer = _diffusion_renderer(args) if args.render == "diffusion" else None
    result = decode_picd(picd, render=args.render, progress=_progress(args), renderer=renderer, edit=_text_edit(args))
    save_image(result.image, out)
    print(f"{out}: {picd.width}x{picd.height}, render={args.render}, in {time.perf_counter() - start:.2f} s")
    return 0


def _diffusion_renderer(args: argparse.Namespace):
    from .diffusion.guidance import GuidanceConfig
    from .diffusion.render import DiffusionRenderer, RenderConfig

    if not args.model:
        raise PicdError("--render diffusion needs --model (a diffusers folder, or a Hugging Face id with internet)")
    guidance = GuidanceConfig(recompression_weight=args.recompression_weight, ocr_weight=args.ocr_weight,
                              mode=args.guidance_mode)
    config = RenderConfig(steps=args.steps, seed=args.seed, denoise=args.denoise, cfg_scale=args.cfg,
                          prompt=args.prompt, guidance=guidance)
    return DiffusionRenderer.load(args.model, adaptor=args.adaptor, lora=args.lora, lora_scale=args.lora_scale,
                                  device=args.device, ocr_guidance=args.ocr_weight > 0, config=config)


def _info(path: str) -> dict:
    picd = PicdFile.load(path)
    sizes = picd.layer_sizes()
    info = {
        "file": path, "mode": picd.mode, "width": picd.width, "height": picd.height,
        "padded_width": picd.padded_width, "padded_height": picd.padded_height,
        "image_codec": picd.image_codec, "quality": picd.image_quality, "bytes": sizes,
        "bpp": {k: bits_per_pixel(v, picd.width, picd.height) for k, v in sizes.items()},
    }
    if picd.text_layer is not None:
        from .text_layer import decode_text_layer

        info["words"] = len(decode_text_layer(picd.text_layer))
    return info


def cmd_info(args: argparse.Namespace) -> int:
    info = _info(args.input)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['file']}: {info['width']}x{info['height']} (padded {info['padded_width']}x{info['padded_height']}), "
          f"{info['mode']} mode, image codec {info['image_codec']} q={info['quality']}")
    for part in ("text", "image", "container", "total"):
        print(f"  {part:<9} {info['bytes'][part]:>9} bytes  {info['bpp'][part]:.5f} bpp")
    if "words" in info:
        print(f"  words     {info['words']:>9}")
    return 0


def cmd_text(args: argparse.Namespace) -> int:
    from .text_layer import decode_text_layer

    picd = PicdFile.load(args.input)
    if picd.text_layer is None:
        raise PicdError(f"{args.input} is a {picd.mode}-mode file: it carries no text layer")
    return _print_layout(decode_text_layer(picd.text_layer), args.json)


def cmd_codecs(args: argparse.Namespace) -> int:
    default = default_codec_name()
    rows = []
    for name, reason in available_codecs().items():
        row = {"name": name, "available": reason is None, "default": name == default}
        if reason is None:
            codec = get_codec(name)
            row.update(quality_min=codec.quality_range[0], quality_max=codec.quality_range[1],
                       default_quality=codec.default_quality, uses_glyph=codec.uses_glyph,
                       description=codec.description)
        else:
            row["unavailable_because"] = reason
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        if row["available"]:
            mark = " (default)" if row["default"] else ""
            print(f"{row['name']:<8} quality {row['quality_min']}..{row['quality_max']}, default {row['default_quality']}"
                  f"{mark}  {row['description']}")
        else:
            print(f"{row['name']:<8} unavailable: {row['unavailable_because']}")
    return 0


def cmd_screens(args: argparse.Namespace) -> int:
    from .data import generate_screen

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(args.count):
        seed = args.seed + i
        screen = generate_screen(seed, args.width, args.height, kind=args.kind, photo_dir=args.photos)
        save_image(screen.image, out / f"screen_{seed:05d}.png")
        (out / f"screen_{seed:05d}.json").write_text(screen.layout.to_json(), encoding="utf-8")
        if not args.quiet:
            print(f"  {i + 1}/{args.count} screen_{seed:05d} ({screen.kind}, {len(screen.layout)} words)",
                  file=sys.stderr)
    print(f"{args.count} screens with ground truth in {out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .eval.runner import EvalConfig, evaluate, patch_fid_scores, plot_rd, summarise

    out = Path(args.output)
    if out.suffix != ".json":
        raise PicdError("-o must name a .json file")
    renders = args.render or ["none"]
    codec_name = args.codec or default_codec_name()
    cfg = EvalConfig(data=args.data, codec=codec_name, qualities=args.quality, renders=renders,
                     judges=[j for j in (args.judge or ["tesseract", "rapidocr"]) if j != "none"], mode=args.mode, screens=args.screens,
                     limit=args.limit, perceptual=not args.no_perceptual, deep=args.deep or [])
    renderer = _diffusion_renderer(args) if "diffusion" in renders else None
    out.parent.mkdir(parents=True, exist_ok=True)
    cache = out.with_name(out.stem + ".partial.jsonl")
    records = evaluate(cfg, cache, renderer, progress=_progress(args))
    set_metrics = {"patch-fid": patch_fid_scores(cfg, cache, records)} if "fid" in cfg.deep else None
    curves = summarise(records, cfg, codec_name, set_metrics)
    written = []
    for render, curve in curves.items():
        path = out if len(curves) == 1 else out.with_name(f"{out.stem}-{render}.json")
        path.write_text(json.dumps(curve, indent=2) + "\n")
        written.append(str(path))
    if args.plot:
        plot_rd(curves, Path(args.plot))
        written.append(args.plot)
    for curve in curves.values():
        r = curve["results"]
        print(curve["name"])
        keys = [k for k in r if k != "quality"]
        print("  " + " ".join(f"{k:>22}" for k in ["quality"] + keys))
        for i, q in enumerate(r["quality"]):
            print("  " + " ".join(f"{v:>22.4f}" if isinstance(v, float) else f"{v:>22}"
                                  for v in [q] + [r[k][i] for k in keys]))
    print("wrote " + ", ".join(written))
    return 0


def cmd_bd(args: argparse.Namespace) -> int:
    from .metrics.bd import bd_quality, bd_rate

    anchor, test = (json.loads(Path(p).read_text())["results"] for p in (args.anchor, args.test))
    for name, curve in (("anchor", anchor), ("test", test)):
        for key in ("bpp", args.metric):
            if key not in curve:
                raise PicdError(f"{name} results have no {key!r} (have: {', '.join(curve)})")
    parts, errors = [], []
    for label, fn in (("BD-rate", bd_rate), (f"BD-{args.metric}", bd_quality)):
        try:
            value = fn(anchor["bpp"], anchor[args.metric], test["bpp"], test[args.metric], args.method)
            parts.append(f"{label} {value:+.2f} %" if fn is bd_rate else f"{label} {value:+.4f}")
        except InvalidInputError as exc:  # e.g. no overlap in quality: the other delta may still be defined
            parts.append(f"{label} undefined ({exc})")
            errors.append(str(exc))
    if len(errors) == 2:
        raise PicdError(errors[0])
    print("   ".join(parts) + f"   ({args.method}; test {args.test} vs anchor {args.anchor})")
    return 0


def cmd_train_render(args: argparse.Namespace) -> int:
    from .data import natural_images_dir
    from .diffusion.train import RenderTrainConfig, train_render

    out = Path(args.output)
    if out.exists() and not args.force:
        raise PicdError(f"{out} exists; pass --force to overwrite it")
    natural = args.data or (str(natural_images_dir()) if natural_images_dir() is not None else None)
    if natural and not Path(natural).is_dir():
        raise PicdError(f"training folder not found: {natural}")
    cfg = RenderTrainConfig(model=args.model, output=str(out), target=args.target, steps=args.steps,
                            batch_size=args.batch, crop=args.crop, lr=args.lr, seed=args.seed, natural_dir=natural,
                            lora_rank=args.rank, mixed_precision=args.mixed_precision)
    result = train_render(cfg, progress=_progress(args) or (lambda _m: None))
    losses = result["losses"]
    k = max(1, min(100, len(losses) // 4))
    print(f"{out}: {args.target} trained {len(losses)} steps in {result['seconds']:.0f} s; loss "
          f"{sum(losses[:k]) / k:.4f} (first {k}) → {sum(losses[-k:]) / k:.4f} (last {k})")
    return 0


def cmd_train_codec(args: argparse.Namespace) -> int:
    from .data import natural_images_dir
    from .mlic.elic import ElicConfig
    from .mlic.train import TrainConfig, train

    dirs = [Path(d) for d in args.data] if args.data else []
    if not dirs and natural_images_dir() is not None:
        dirs = [natural_images_dir()]
    for d in dirs:
        if not d.is_dir():
            raise PicdError(f"training folder not found: {d}")
    model_cfg = ElicConfig.preset(args.size)
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch, crop=args.crop, lr=args.lr, device=args.device,
                      checkpoint_every=args.checkpoint_every, screen_pool=args.screen_pool, seed=args.seed)
    path = train(args.output, dirs, model_cfg, cfg, resume=args.resume,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"checkpoint: {path}")
    return 0


def cmd_export_codec(args: argparse.Namespace) -> int:
    from .mlic.export import export_weights

    entry = export_weights(args.checkpoint, args.output, name=args.name, register=args.register,
                           make_default=args.default)
    print(f"{args.output}: {entry['bytes']} bytes, sha256 {entry['sha256']}, {entry['rate_levels']} rate levels")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="picd", description="PICD perceptual image codec (text layer + image layer)")
    parser.add_argument("--version", action="version", version=f"picd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ocr", help="print the text layout Tesseract finds in an image")
    p.add_argument("image")
    p.add_argument("--json", action="store_true", help="print words and boxes as JSON")
    _add_ocr_options(p)
    p.set_defaults(func=cmd_ocr)

    p = sub.add_parser("encode", help="encode an image to a .picd file")
    p.add_argument("image")
    p.add_argument("-o", "--output", required=True, help="output .picd file")
    p.add_argument("--mode", choices=ENCODE_MODES, default="auto", help="screen (text layer), natural, or auto")
    p.add_argument("--codec", default=None, help="image-layer codec (see 'picd codecs'; default: the first available)")
    p.add_argument("--quality", type=int, default=None, help="codec quality (see 'picd codecs' for ranges)")
    p.add_argument("--bpp", type=float, default=None, help="size target in bits per pixel (chooses the quality)")
    p.add_argument("--max-bytes", type=int, default=None, help="size target in bytes (chooses the quality)")
    p.add_argument("--image-scale", type=int, choices=(1, 2, 4), default=None,
                   help="code the image layer at 1/N resolution (default 1; --bpp/--max-bytes choose it)")
    p.add_argument("--preset", choices=OVERFIT_PRESETS, default=None,
                   help="--codec overfit: encode effort (iterations of the per-image fit; default medium)")
    p.add_argument("--no-redraw", action="store_true",
                   help="screen mode: keep every word in the image layer (the text layer is sent, nothing redrawn)")
    p.add_argument("--text-layer", choices=TEXT_SCOPES, default="all",
                   help="screen mode: 'all' (default) sends every OCR'd word (picd text lists them all); 'redrawn' "
                        "only the words the decoder redraws: smaller files, the rest is pixels only")
    _add_edit_options(p, "before encoding: edited words' pixels never enter the file")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    _add_ocr_options(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="decode a .picd file to an image")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="output image (PNG)")
    p.add_argument("--render", choices=RENDER_MODES, default="glyph",
                   help="glyph (default): the text layer drawn back over the image layer, each redrawn word in its "
                        "font and colour; none: the image layer as coded; "
                        "diffusion: rendered by a Stable Diffusion model (--model) from that composite")
    _add_edit_options(p, "before drawing the text")
    d = p.add_argument_group("diffusion rendering (--render diffusion)")
    d.add_argument("--model", help="SD 1.x/2.x model: a local diffusers folder or a Hugging Face id")
    d.add_argument("--adaptor", help="PICD adaptor .safetensors (default: training-free rendering)")
    d.add_argument("--lora", help="domain LoRA .safetensors")
    d.add_argument("--lora-scale", type=float, default=1.0)
    d.add_argument("--steps", type=int, default=50)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--denoise", type=float, default=None,
                   help="fraction of the schedule to run (default 1.0 with an adaptor, 0.6 training-free)")
    d.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale (1 = off)")
    d.add_argument("--prompt", default=None, help="override the prompt built from the text layer")
    d.add_argument("--recompression-weight", type=float, default=1.0, help="ζ₂ of the re-compression loss")
    d.add_argument("--ocr-weight", type=float, default=0.5, help="ζ₁ of the OCR loss (0 = off)")
    d.add_argument("--guidance-mode", choices=("full", "cheap"), default="full",
                   help="full: gradient through the UNet; cheap: w.r.t. the clean estimate only")
    d.add_argument("--device", default="cpu", help="torch device for the diffusion model (cpu, cuda, …)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("text", help="print the transmitted text of a .picd file (with boxes and styles: --json)")
    p.add_argument("input")
    p.add_argument("--json", action="store_true", help="words with boxes, fonts, colours and redraw decisions")
    p.set_defaults(func=cmd_text)

    p = sub.add_parser("info", help="sizes of each layer and bits per pixel")
    p.add_argument("input")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("codecs", help="list image-layer codecs, their quality ranges and the default")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_codecs)

    p = sub.add_parser("screens", help="render synthetic screenshots with ground-truth text (PNG + JSON)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--height", type=int, default=768)
    p.add_argument("--kind", default=None, help="document, ui, code, chat, table or mixed (default: random)")
    p.add_argument("--photos", default=None, help="folder of natural images to paste into screens")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_screens)

    p = sub.add_parser("eval", help="encode/decode a dataset at every rate; CompressAI-style JSON and an RD plot")
    p.add_argument("--data", required=True, help="kodak, clic, screens (fixed generated set) or a folder of images")
    p.add_argument("--codec", default=None, help="image-layer codec (default: the default codec)")
    p.add_argument("--quality", type=int, nargs="+", help="qualities (default: the learned codec's levels or a "
                   "standard sweep)")
    p.add_argument("--render", nargs="+", choices=RENDER_MODES, help="render modes to evaluate (default: none)")
    p.add_argument("--judge", nargs="+", choices=("tesseract", "rapidocr", "none"),
                   help="OCR judges of text accuracy (default: both; none: skip text accuracy)")
    p.add_argument("--mode", choices=ENCODE_MODES, default="auto")
    p.add_argument("--screens", type=int, default=12, help="size of the generated-screen set")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--no-perceptual", action="store_true", help="skip GMSD/VIFp/HaarPSI")
    p.add_argument("--deep", nargs="+", choices=("lpips", "dists", "clip", "fid"),
                   help="deep perceptual metrics (fid: patch FID per curve); their weights come from "
                        "PICD_*_WEIGHTS / PICD_CLIP_MODEL or a download")
    p.add_argument("-o", "--output", required=True, help="results .json (one file per render: NAME-RENDER.json)")
    p.add_argument("--plot", help="RD plot (.png)")
    p.add_argument("-q", "--quiet", action="store_true")
    for flag, kw in (("--model", {}), ("--adaptor", {}), ("--lora", {}), ("--lora-scale", {"type": float, "default": 1.0}),
                     ("--steps", {"type": int, "default": 50}), ("--seed", {"type": int, "default": 0}),
                     ("--denoise", {"type": float, "default": None}), ("--cfg", {"type": float, "default": 1.0}),
                     ("--prompt", {"default": None}), ("--recompression-weight", {"type": float, "default": 1.0}),
                     ("--ocr-weight", {"type": float, "default": 0.5}),
                     ("--guidance-mode", {"choices": ("full", "cheap"), "default": "full"}),
                     ("--device", {"default": "cpu"})):
        p.add_argument(flag, help=argparse.SUPPRESS, **kw)  # as for `picd decode --render diffusion`
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bd", help="Bjøntegaard deltas between two results files written by 'picd eval'")
    p.add_argument("anchor")
    p.add_argument("test")
    p.add_argument("--metric", default="psnr-rgb", help="quality key, e.g. psnr-rgb, text-word-recall-tesseract")
    p.add_argument("--method", choices=("cubic", "pchip", "akima"), default="cubic")
    p.set_defaults(func=cmd_bd)

    for target, lr, what in (("adaptor", 5e-5, "the PICD adaptor (backbone frozen)"),
                             ("lora", 1e-4, "the screen-content LoRA of the UNet")):
        p = sub.add_parser(f"train-{target}", help=f"train {what} on generated screens + natural images")
        p.add_argument("--model", required=True, help="SD 1.x/2.x diffusers folder (or Hugging Face id)")
        p.add_argument("-o", "--output", required=True, help="output .safetensors")
        p.add_argument("--data", help="natural images mixed in (default: $PICD_DATA_DIR/train_natural)")
        p.add_argument("--steps", type=int, default=1000)
        p.add_argument("--batch", type=int, default=4)
        p.add_argument("--crop", type=int, default=512, help="crop size, a multiple of 64")
        p.add_argument("--lr", type=float, default=lr)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--rank", type=int, default=256, help="LoRA rank (LoRA only)")
        p.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no")
        p.add_argument("-f", "--force", action="store_true", help="overwrite the output file")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
        p.set_defaults(func=cmd_train_render, target=target)

    p = sub.add_parser("train-codec", help="train the learned image-layer codec (rate-distortion, resumable)")
    p.add_argument("-o", "--output", required=True, help="run folder (checkpoints, history)")
    p.add_argument("--data", action="append", help="folder of natural training images (repeatable; default: "
                   "$PICD_DATA_DIR/train_natural)")
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=256, help="crop size, a multiple of 64")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--size", choices=MODEL_SIZES, default="default",
                   help="default: CPU-sized (N=96, M=160); large: MLIC++-sized (N=192, M=320) for GPUs; tiny: tests")
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--screen-pool", type=int, default=48, help="generated screens kept in memory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.set_defaults(func=cmd_train_codec)

    p = sub.add_parser("export-codec", help="build entropy tables and write shippable codec weights")
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True, help="output .safetensors")
    p.add_argument("--name", default=None)
    p.add_argument("--register", action="store_true", help="add to the package's weights manifest")
    p.add_argument("--default", action="store_true", help="make it the default mlic weights")
    p.set_defaults(func=cmd_export_codec)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PicdError as exc:
        if os.environ.get("PICD_DEBUG"):  # the chain: the internal exception this error was raised from, if any
            traceback.print_exc()
        print(f"picd: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("picd: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure is still one line, unless debugging
        if os.environ.get("PICD_DEBUG"):
            raise
        print(f"picd: internal error: {exc.__class__.__name__}: {exc} (set PICD_DEBUG=1 for a traceback and "
              "report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
