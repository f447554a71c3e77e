"""Declarative node definitions: one source for the ComfyUI V3 classes (nodes/comfy_v3.py) and for validating the
shipped workflows in CI, where no ComfyUI is installed (tests/test_workflows.py).

Node ids are stable: they are saved in users' workflows. Never rename one; deprecate instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from picd_core.layout import TEXT_SCOPES
from picd_core.overfit.presets import PRESETS as OVERFIT_PRESETS

# Custom socket types. Each carries one item per image of the batch.
TEXT_LAYOUT = "PICD_TEXT_LAYOUT"  # list[picd_core.TextLayout]
TEXT_BITS = "PICD_TEXT_BITS"  # list[bytes]: coded text layers
BITSTREAM = "PICD_BITSTREAM"  # list[picd_core.PicdFile]: whole .picd files
CODEC = "PICD_CODEC"  # nodes.logic.CodecHandle

ADAPTOR = "PICD_ADAPTOR"  # picd_core.diffusion.PicdAdaptor

CATEGORY = "PICD"

QUALITY_TOOLTIP = ("Rate setting of the loaded codec, checked before running: mlic = rate level 1–6 (1 = lowest "
                   "rate, learned-codec files: 1…their level count), overfit = rate level 1–8, webp and avif 0–100, "
                   "jpeg 1–95 (higher = better and larger)")
GUIDANCE_DECODERS = ("auto", "vae", "taesd")
NO_ADAPTOR = "(no adaptor: put PICD adaptor .safetensors files in models/picd)"


@dataclass(frozen=True)
class Socket:
    name: str
    type: str  # IMAGE, MASK, INT, FLOAT, STRING, BOOLEAN, COMBO or a custom type
    tooltip: str = ""
    optional: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: tuple[str, ...] | None = None  # COMBO choices; None with type COMBO = filled at run time
    dynamic_options: str | None = None  # name of a provider in the host glue (e.g. model files)

    @property
    def is_widget(self) -> bool:
        return self.type in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    tooltip: str = ""


@dataclass(frozen=True)
class NodeSpec:
    node_id: str
    display_name: str
    category: str
    description: str
    function: str  # name of the function in nodes.logic
    inputs: tuple[Socket, ...] = ()
    outputs: tuple[Output, ...] = ()
    output_node: bool = False
    search_aliases: tuple[str, ...] = field(default_factory=tuple)
    needs_host: bool = False  # the function works on ComfyUI objects (MODEL, VAE…): nodes/comfy_diffusion.py


CODEC_CHOICES_PROVIDER = "picd_codecs"  # built-in codecs + weights files in models/picd
BITSTREAM_FILES_PROVIDER = "picd_files"  # .picd files in the input folder
ADAPTOR_FILES_PROVIDER = "picd_adaptors"  # PICD adaptor files in models/picd

NODE_SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        "PICD_OCRExtract", "PICD OCR Extract", f"{CATEGORY}/text",
        "Reads the words and their boxes with Tesseract (the text layer Z). Shows the boxes it found.",
        "ocr_extract",
        inputs=(
            Socket("image", "IMAGE", "Image (batch) to read"),
            Socket("min_confidence", "FLOAT", "Drop words Tesseract is less sure of (0–100)", default=30.0, min=0.0,
                   max=100.0, step=1.0),
            Socket("language", "STRING", "Tesseract language(s), e.g. eng or eng+deu", default="eng"),
            Socket("page_segmentation", "INT", "Tesseract --psm (11 = sparse text, best measured on real screens)",
                   default=11, min=0, max=13),
            Socket("upscale", "FLOAT", "Upscale before OCR; 2 helps small UI text", default=2.0, min=1.0, max=4.0,
                   step=0.5),
            Socket("second_segmentation", "INT", "A second --psm pass whose extra words are added (3 = automatic; "
                   "-1 = none)", default=3, min=-1, max=13),
        ),
        outputs=(Output("text_layout", TEXT_LAYOUT, "Words and boxes, one layout per image"),
                 Output("boxes", "IMAGE", "The image with the word boxes drawn")),
        search_aliases=("ocr", "tesseract", "text detection"),
    ),
    NodeSpec(
        "PICD_TextEncode", "PICD Text Encode", f"{CATEGORY}/text",
        "Codes the text layout losslessly (exp-Golomb boxes + the best of PPMd/brotli/LZMA for the words). Shows "
        "the bytes.",
        "text_encode",
        inputs=(Socket("text_layout", TEXT_LAYOUT, "From PICD OCR Extract"),),
        outputs=(Output("text_bits", TEXT_BITS, "The coded text layer, one per image"),),
    ),
    NodeSpec(
        "PICD_GlyphRender", "PICD Glyph Render", f"{CATEGORY}/text",
        "Draws the text layout as a black-on-white glyph image, bit-identical on every machine (bundled font). "
        "Its size comes from the reference image. Shows the size.",
        "glyph_render",
        inputs=(
            Socket("text_layout", TEXT_LAYOUT, "From PICD OCR Extract or PICD Decode"),
            Socket("reference_image", "IMAGE", "The glyph gets this image's size (width/height are then ignored)",
                   optional=True),
            Socket("width", "INT", "0 = the reference image's width; else used when no reference image is connected",
                   default=0, min=0, max=16384),
            Socket("height", "INT", "0 = the reference image's height; else used when no reference image is "
                   "connected", default=0, min=0, max=16384),
        ),
        outputs=(Output("glyph", "IMAGE", "Glyph image (white background, black text): the codec's and adaptor's "
                        "conditioning"),
                 Output("ink_mask", "MASK", "1 where text is drawn"),
                 Output("styled_text", "IMAGE", "The words in their transmitted fonts and colours, on white (layouts "
                        "from PICD Decode carry styles)")),
    ),
    NodeSpec(
        "PICD_CodecLoader", "PICD Codec Loader", f"{CATEGORY}/codec",
        "Loads the image-layer codec and its rate setting: a classical codec (AVIF, WebP, JPEG), the per-image "
        "overfitted codec (fits a tiny decoder to each image; its preset sets the encode effort) or the learned "
        "glyph-conditioned codec mlic (built-in weights or a file in models/picd). The quality is checked against "
        "the codec's range before the graph runs.",
        "load_codec",
        inputs=(Socket("codec", "COMBO", "The first choice is the measured default (README: 'Choosing the image "
                       "codec')", options=None, dynamic_options=CODEC_CHOICES_PROVIDER),
                Socket("quality", "INT", QUALITY_TOOLTIP, default=2, min=0, max=100),
                Socket("preset", "COMBO", "overfit only: encode effort (iterations of the per-image fit); the "
                       "decoder does not need it", default="medium", options=tuple(OVERFIT_PRESETS))),
        outputs=(Output("codec", CODEC),),
    ),
    NodeSpec(
        "PICD_MLICEncode", "PICD Encode", f"{CATEGORY}/codec",
        "Codes the image given the text layer: words it can redraw better than the image layer keeps them are "
        "removed from the image and sent with their style; the rest (the text-free background) is coded with the "
        "loaded codec (the learned one is conditioned on the glyph). Without text bits the image is coded in natural "
        "mode. Shows bytes and bits per pixel.",
        "mlic_encode",
        inputs=(
            Socket("image", "IMAGE", "Image (batch) to code"),
            Socket("codec", CODEC, "From PICD Codec Loader (which also sets the quality)"),
            Socket("text_bits", TEXT_BITS, "From PICD Text Encode (screen mode); leave empty for natural images",
                   optional=True),
            Socket("glyph", "IMAGE", "From PICD Glyph Render; checked against the text layer", optional=True),
            Socket("target_bpp", "FLOAT", "Size target in bits per pixel (0 = use the loader's quality); chooses "
                   "the quality and redraws", default=0.0, min=0.0, max=24.0, step=0.01),
            Socket("redraw", "BOOLEAN", "Remove and redraw the words the decoder draws better (off: the image "
                   "layer keeps every pixel)", default=True),
            Socket("replace", "STRING", "Words to replace before coding: old=new, old2=new2", default=""),
            Socket("redact", "STRING", "Words to redact before coding (their pixels never enter the file): email, "
                   "digits, url or a regular expression, comma-separated", default=""),
            Socket("text_layer", "COMBO", "all: every OCR'd word is sent (searchable, editable, guides diffusion); "
                   "redrawn: only the words the decoder redraws (smaller files)", default="all",
                   options=TEXT_SCOPES),
        ),
        outputs=(Output("bitstream", BITSTREAM, "The coded image(s): text layer + image layer"),),
    ),
    NodeSpec(
        "PICD_MLICDecode", "PICD Decode", f"{CATEGORY}/codec",
        "Decodes a .picd bitstream: the text layer, the glyph rendered from it, and the image layer X̄.",
        "mlic_decode",
        inputs=(Socket("bitstream", BITSTREAM, "From PICD Encode or PICD Load Bitstream"),
                Socket("codec", CODEC, "Only for learned-codec weights other than the built-in ones", optional=True)),
        outputs=(Output("image", "IMAGE", "The decoded image layer X̄ (screens: without the redrawn words; connect "
                        "PICD Direct Text Render)"),
                 Output("text_layout", TEXT_LAYOUT, "The transmitted words and boxes"),
                 Output("glyph", "IMAGE", "The glyph rendered from the text layer")),
    ),
    NodeSpec(
        "PICD_DirectTextRender", "PICD Direct Text Render", f"{CATEGORY}/render",
        "Draws the text layer back over the decoded image: each word the encoder removed in its transmitted font "
        "and colour (files of version 1: every word, in colours taken from the image).",
        "direct_text_render",
        inputs=(Socket("image", "IMAGE", "From PICD Decode"),
                Socket("text_layout", TEXT_LAYOUT, "From PICD Decode")),
        outputs=(Output("image", "IMAGE"),),
    ),
    NodeSpec(
        "PICD_TextEdit", "PICD Text Edit", f"{CATEGORY}/render",
        "Replaces or redacts words of a decoded text layer and draws the result over the decoded image (words the "
        "image layer kept are covered first). To keep redacted pixels out of the file, redact in PICD Encode.",
        "text_edit",
        inputs=(Socket("image", "IMAGE", "From PICD Decode"),
                Socket("text_layout", TEXT_LAYOUT, "From PICD Decode"),
                Socket("replace", "STRING", "old=new, old2=new2", default=""),
                Socket("redact", "STRING", "email, digits, url or a regular expression, comma-separated",
                       default="")),
        outputs=(Output("image", "IMAGE"), Output("text_layout", TEXT_LAYOUT, "The edited layout")),
        search_aliases=("redact", "replace text", "edit text"),
    ),
    NodeSpec(
        "PICD_SaveBitstream", "PICD Save Bitstream", f"{CATEGORY}/io",
        "Saves each coded image as a .picd file in ComfyUI's output folder (subfolder picd/).",
        "save_bitstream",
        inputs=(Socket("bitstream", BITSTREAM, "From PICD Encode"),
                Socket("filename_prefix", "STRING", "File name prefix", default="picd/PICD")),
        outputs=(Output("bitstream", BITSTREAM, "The same bitstream, to decode right away"),),
        output_node=True,
    ),
    NodeSpec(
        "PICD_LoadBitstream", "PICD Load Bitstream", f"{CATEGORY}/io",
        "Loads a .picd file from ComfyUI's input folder (copy files there, or into input/picd/).",
        "load_bitstream",
        inputs=(Socket("file", "COMBO", ".picd files in the input folder", options=None,
                       dynamic_options=BITSTREAM_FILES_PROVIDER),),
        outputs=(Output("bitstream", BITSTREAM),),
    ),
    NodeSpec(
        "PICD_DomainPrompt", "PICD Domain Prompt", f"{CATEGORY}/diffusion",
        "The domain-level prompt built from the transmitted text: \"a screenshot with text: …\" (empty for natural "
        "images). Connect it to CLIP Text Encode's text.",
        "domain_prompt",
        inputs=(Socket("text_layout", TEXT_LAYOUT, "From PICD Decode"),
                Socket("max_tokens", "INT", "Cut at a word boundary to fit the text encoder (CLIP: 77)", default=77,
                       min=8, max=1024)),
        outputs=(Output("prompt", "STRING"),),
    ),
    NodeSpec(
        "PICD_AdaptorLoader", "PICD Adaptor Loader", f"{CATEGORY}/diffusion",
        "Loads a PICD adaptor (glyph + decoded-image conditioning for an SD UNet) from models/picd (none ships: "
        "train one with picd train-adaptor and put the .safetensors file there).",
        "load_adaptor",
        inputs=(Socket("adaptor_name", "COMBO", "Adaptor .safetensors in models/picd", options=None,
                       dynamic_options=ADAPTOR_FILES_PROVIDER),),
        outputs=(Output("adaptor", ADAPTOR),),
        needs_host=True,
    ),
    NodeSpec(
        "PICD_AdaptorApply", "PICD Adaptor Apply", f"{CATEGORY}/diffusion",
        "Patches the model so every UNet ResNet block is modulated (SFT) by features of the decoded image X̄ and "
        "the glyph. Works with other patches and LoRAs; the loaded checkpoint itself is not changed.",
        "apply_adaptor",
        inputs=(
            Socket("model", "MODEL", "An SD 1.x/2.x/XL model (after any LoRA)"),
            Socket("adaptor", ADAPTOR, "From PICD Adaptor Loader"),
            Socket("vae", "VAE", "The checkpoint's VAE (encodes X̄ for the adaptor)"),
            Socket("image", "IMAGE", "X̄: the image output of PICD Decode"),
            Socket("strength", "FLOAT", "0 = no effect, 1 = as trained", default=1.0, min=0.0, max=2.0, step=0.05),
            Socket("glyph", "IMAGE", "The glyph output of PICD Decode (screen mode)", optional=True),
        ),
        outputs=(Output("model", "MODEL", "The patched model, for the PICD OCR-Guided Sampler or any sampler"),),
        needs_host=True,
    ),
    NodeSpec(
        "PICD_OCRGuidedSampler", "PICD OCR-Guided Sampler", f"{CATEGORY}/diffusion",
        "Renders X̂ from X̄: ancestral sampling from X̄ noised to `denoise`, with a DPS gradient step after every "
        "step that keeps re-compression of the clean estimate close to X̄ and makes the transmitted words readable "
        "to a text recogniser. Shows the losses.",
        "guided_sample",
        inputs=(
            Socket("model", "MODEL", "An SD model, optionally patched by PICD Adaptor Apply"),
            Socket("positive", "CONDITIONING", "E.g. CLIP Text Encode of the PICD prompt"),
            Socket("negative", "CONDITIONING", "Used only when cfg > 1"),
            Socket("vae", "VAE", "The checkpoint's VAE"),
            Socket("bitstream", BITSTREAM, "From PICD Decode's input: gives the codec and its rate"),
            Socket("image", "IMAGE", "X̄: the image output of PICD Decode"),
            Socket("seed", "INT", "Noise seed", default=0, min=0, max=2**63 - 1),
            Socket("steps", "INT", "Sampling steps (PICD used 50; 20 costs 2.5× less)", default=20, min=1,
                   max=1000),
            Socket("cfg", "FLOAT", "Classifier-free guidance (1 = off, as PICD)", default=1.0, min=0.0, max=30.0,
                   step=0.1),
            Socket("denoise", "FLOAT", "Fraction of the schedule: 1.0 with a trained adaptor, ~0.6 training-free",
                   default=0.6, min=0.01, max=1.0, step=0.01),
            Socket("recompression_weight", "FLOAT", "ζ₂: weight of the re-compression (idempotence) loss",
                   default=1.0, min=0.0, max=100.0, step=0.05),
            Socket("ocr_weight", "FLOAT", "ζ₁: weight of the OCR loss (screen mode)", default=0.5, min=0.0, max=100.0,
                   step=0.05),
            Socket("guidance_mode", "COMBO", "full: gradient through the UNet (DPS); cheap: w.r.t. the clean "
                   "estimate only", options=("full", "cheap"), default="full"),
            Socket("guidance_every", "INT", "Apply the guidance step every k sampling steps (1 = every step, as "
                   "PICD; 2 halves the cost of guidance)", default=2, min=1, max=100),
            Socket("guidance_decoder", "COMBO", "Decoder used inside the guidance loss: auto = TAESD when "
                   "models/vae_approx has it (much cheaper to backpropagate through), else the checkpoint's VAE",
                   options=GUIDANCE_DECODERS, default=GUIDANCE_DECODERS[0]),
            Socket("text_layout", TEXT_LAYOUT, "From PICD Decode; enables the OCR loss", optional=True),
            Socket("glyph", "IMAGE", "From PICD Decode (screen mode)", optional=True),
            Socket("codec", CODEC, "Only for learned-codec weights other than the built-in ones", optional=True),
        ),
        outputs=(Output("latent", "LATENT"), Output("image", "IMAGE", "X̂ decoded with the VAE")),
        needs_host=True,
        search_aliases=("dps", "picd sampler", "codec render"),
    ),
)

SPECS_BY_ID = {spec.node_id: spec for spec in NODE_SPECS}


def object_info(choices: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """The pack's nodes in ComfyUI's /object_info format (enough of it to validate workflows)."""
    choices = choices or {}
    info = {}
    for spec in NODE_SPECS:
        required, optional = {}, {}
        for s in spec.inputs:
            opts: dict[str, Any] = {"tooltip": s.tooltip} if s.tooltip else {}
            for key in ("default", "min", "max", "step"):
                if getattr(s, key) is not None:
                    opts[key] = getattr(s, key)
            if s.type == "COMBO":
                entry = [list(s.options or choices.get(s.dynamic_options or "", [])), opts]
            else:
                entry = [s.type, opts]
            (optional if s.optional else required)[s.name] = entry
        info[spec.node_id] = {
            "input": {"required": required, **({"optional": optional} if optional else {})},
            "input_order": {"required": [s.name for s in spec.inputs if not s.optional],
                            **({"optional": [s.name for s in spec.inputs if s.optional]} if optional else {})},
            "output": [o.type for o in spec.outputs],
            "output_name": [o.name for o in spec.outputs],
            "name": spec.node_id, "display_name": spec.display_name, "category": spec.category,
            "description": spec.description, "output_node": spec.output_node,
        }
    return info
