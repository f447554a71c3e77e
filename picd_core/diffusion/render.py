"""Render X̂ ~ p(X | X̄, Z): domain prompt (+ LoRA), adaptor, guided ancestral sampling (PICD_SPEC §5).

The set-up steps (padding, schedule length, codec lookup, guidance) are functions here that both this renderer and
the ComfyUI OCR-Guided Sampler (nodes/comfy_diffusion.py) call, so the two render the same way.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from ..errors import InvalidInputError
from ..image_codecs import ImageCodec, get_codec
from ..layout import TextLayout
from ..pipeline import _pad
from .adaptor import PicdAdaptor
from .guidance import GuidanceConfig, GuidanceContext, PicdGuidance, build_guidance
from .prompt import domain_prompt
from .sampling import StepRecord, denoise_tail, guided_ancestral_sample

PAD_MULTIPLE = 64  # the VAE needs 8, the image codec used by re-compression guidance 64

TRAINING_FREE_DENOISE = 0.6  # without an adaptor the sampler starts from X̄ noised to this fraction of the schedule


# ------------------------------------------------------------------------------------------------ shared set-up
def pad_layers(image_layer: np.ndarray, glyph: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """X̄ (uint8 [H,W,3]) and glyph (uint8 [H,W] or None) as float [1,3,H',W'] / [1,1,H',W'] in [0,1] on the CPU.

    Both are edge-padded to PAD_MULTIPLE: the rule pipeline.encode_image pads them by for coding, so the
    re-compression term conditions the codec on the same glyph as the encoder did (one rule for CLI and ComfyUI)."""
    x_bar = torch.from_numpy(np.ascontiguousarray(_pad(image_layer, PAD_MULTIPLE, "edge")))
    x_bar = x_bar.permute(2, 0, 1)[None].float().div(255)
    if glyph is None:
        return x_bar, None
    return x_bar, torch.from_numpy(np.ascontiguousarray(_pad(glyph, PAD_MULTIPLE, "edge")))[None, None].float().div(255)


def codec_for_file(name: str, override: ImageCodec | None = None) -> ImageCodec:
    """The image codec that coded a file: `override` when it has the file's codec name, else the registry's."""
    return override if override is not None and override.name == name else get_codec(name)


def make_guidance(config: GuidanceConfig, x_bar: torch.Tensor, glyph: torch.Tensor | None, layout: TextLayout | None,
                  codec: ImageCodec | None, quality: int, recognizer, steps: int, seed: int = 0
                  ) -> tuple[PicdGuidance | None, list[str]]:
    """Guidance from every registered term (None when none is on) and notes saying why a requested term is off.

    x_bar/glyph: padded, on the sampling device; layout None or empty for natural images; quality: the file's."""
    context = GuidanceContext(target=x_bar, steps=steps, glyph=glyph, words=list(layout.words) if layout else [],
                              codec=codec, quality=quality, recognizer=recognizer, seed=seed)
    return build_guidance(config, context), context.notes


@dataclass
class RenderConfig:
    steps: int = 50
    seed: int = 0
    denoise: float | None = None  # None: 1.0 with an adaptor, TRAINING_FREE_DENOISE without
    cfg_scale: float = 1.0  # classifier-free guidance off by default (PICD samples without CFG)
    prompt: str | None = None  # None: the domain prompt from the text layer ("" for natural images)
    negative_prompt: str = ""
    eta: float = 1.0  # 1 = DDPM-like ancestral sampling
    adaptor_strength: float = 1.0
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)

    def resolved_denoise(self, has_adaptor: bool) -> float:
        return self.denoise if self.denoise is not None else (1.0 if has_adaptor else TRAINING_FREE_DENOISE)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RenderResult:
    image: np.ndarray  # uint8 [H, W, 3]
    prompt: str
    records: list[StepRecord]
    seconds: float
    notes: list[str] = field(default_factory=list)  # e.g. why a requested guidance term is off




def render_diffusion(backbone, image_layer: np.ndarray, layout: TextLayout, glyph: np.ndarray | None,
                     config: RenderConfig | None = None, adaptor: PicdAdaptor | None = None,
                     codec: ImageCodec | None = None, quality: int = 1, recognizer=None,
                     progress: Callable[[str], None] | None = None) -> RenderResult:
    """image_layer X̄ (uint8 HxWx3), layout Z and glyph (uint8 HxW, white paper) or None for natural images.

    codec (the file's image codec, at the file's quality) enables the re-compression term when it has a
    differentiable model; recognizer enables the OCR term on screens."""
    config = config or RenderConfig()
    if config.steps < 1:
        raise InvalidInputError("steps must be ≥ 1")
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    height, width = image_layer.shape[:2]
    device = backbone.device
    x_bar, glyph_t = pad_layers(image_layer, glyph)
    x_bar = x_bar.to(device)
    glyph_t = None if glyph_t is None else glyph_t.to(device)
    prompt = config.prompt if config.prompt is not None else domain_prompt(layout, backbone.tokenizer)
    context = backbone.encode_prompt(prompt)
    uncond = backbone.encode_prompt(config.negative_prompt) if config.cfg_scale != 1.0 else None
    latent = backbone.encode_image(x_bar).float()
    adaptor_inputs = None
    if adaptor is not None:
        adaptor = adaptor.to(device)
        adaptor_inputs = {"image_layer": x_bar.to(backbone.dtype), "latent": latent.to(backbone.dtype),
                          "glyph": None if glyph_t is None else glyph_t.to(backbone.dtype)}
    denoise = backbone.denoiser(context, uncond, config.cfg_scale, adaptor, adaptor_inputs, config.adaptor_strength)
    g = config.guidance
    guidance, notes = make_guidance(g, x_bar, glyph_t, layout if glyph is not None else None, codec, quality,
                                    recognizer, config.steps, config.seed)
    sigmas = denoise_tail(backbone.schedule.full_sigmas, config.steps,
                          config.resolved_denoise(adaptor is not None)).to(device)
    generator = torch.Generator().manual_seed(config.seed)
    noise = torch.randn(latent.shape, generator=generator).to(latent)
    x = latent + noise * sigmas[0]

    def callback(info: dict) -> None:
        i = info["i"] + 1
        if i == len(sigmas) - 1 or i % max(1, (len(sigmas) - 1) // 10) == 0:
            say(f"diffusion step {i}/{len(sigmas) - 1}")

    try:
        x, records = guided_ancestral_sample(denoise, x, sigmas, guidance, backbone.decode_latent, g.mode,
                                             config.eta, generator, callback)
    finally:
        if denoise.hooks is not None:
            denoise.hooks.remove()
    with torch.no_grad():
        out = backbone.decode_latent(x)[0, :, :height, :width]
    image = (out.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
    return RenderResult(image, prompt, records, time.perf_counter() - t0, notes)


class DiffusionRenderer:
    """A loaded backbone (+ adaptor, LoRA, recogniser) and settings: renders decoded .picd layers (CLI, library)."""

    def __init__(self, backbone, adaptor: PicdAdaptor | None = None, recognizer=None,
                 config: RenderConfig | None = None):
        self.backbone, self.adaptor, self.recognizer = backbone, adaptor, recognizer
        self.config = config or RenderConfig()

    @classmethod
    def load(cls, model: str, adaptor: str | None = None, lora: str | None = None, lora_scale: float = 1.0,
             device: str = "cpu", ocr_guidance: bool = True, config: RenderConfig | None = None
             ) -> "DiffusionRenderer":
        from .diffusers_backend import DiffusersBackbone

        backbone = DiffusersBackbone.load(model, device=device, lora=lora, lora_scale=lora_scale)
        loaded = PicdAdaptor.from_pretrained(adaptor, device=device) if adaptor else None
        recognizer = None
        config = config or RenderConfig()
        if ocr_guidance and config.guidance.ocr_weight > 0:
            from .recognizer import load_recognizer

            recognizer = load_recognizer(device=device)
        return cls(backbone, loaded, recognizer, config)

    def render(self, image_layer: np.ndarray, layout: TextLayout, glyph: np.ndarray | None, mode: str,
               codec=None, quality: int = 1, progress: Callable[[str], None] | None = None) -> RenderResult:
        """mode 'natural' drops the glyph, the OCR term and the text prompt; codec: the file's image codec (its
        differentiable model, when it has one, drives the re-compression term; the codec itself is never moved)."""
        natural = mode == "natural"
        return render_diffusion(self.backbone, image_layer, TextLayout() if natural else layout,
                                None if natural else glyph, self.config, self.adaptor, codec, quality,
                                recognizer=None if natural else self.recognizer, progress=progress)
