"""Render X̂ ~ p(X | X̄, Z): domain prompt (+ LoRA), adaptor, guided ancestral sampling (PICD_SPEC §5)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from ..errors import InvalidInputError
from ..layout import TextLayout
from ..pipeline import _pad
from .adaptor import PicdAdaptor
from .guidance import GuidanceConfig, PicdGuidance
from .prompt import domain_prompt
from .sampling import StepRecord, guided_ancestral_sample

PAD_MULTIPLE = 64  # the VAE needs 8, the image codec used by re-compression guidance 64

TRAINING_FREE_DENOISE = 0.6  # without an adaptor the sampler starts from X̄ noised to this fraction of the schedule


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


def _to_tensor(image: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255).to(device)


def render_diffusion(backbone, image_layer: np.ndarray, layout: TextLayout, glyph: np.ndarray | None,
                     config: RenderConfig | None = None, adaptor: PicdAdaptor | None = None, codec_model=None,
                     rate: int = 0, recognizer=None, progress: Callable[[str], None] | None = None) -> RenderResult:
    """image_layer X̄ (uint8 HxWx3), layout Z and glyph (uint8 HxW, white paper) or None for natural images.

    codec_model (a GlyphMLIC) enables the re-compression loss; recognizer enables the OCR loss on screens."""
    config = config or RenderConfig()
    if config.steps < 1:
        raise InvalidInputError("steps must be ≥ 1")
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    height, width = image_layer.shape[:2]
    device = backbone.device
    x_bar = _to_tensor(_pad(image_layer, PAD_MULTIPLE, "edge"), device)
    glyph_t = None
    if glyph is not None:
        glyph_t = torch.from_numpy(_pad(glyph, PAD_MULTIPLE, "edge"))[None, None].float().div(255).to(device)
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
    guidance = None
    g = config.guidance
    if (codec_model is not None and g.recompression_weight > 0) or (recognizer is not None and g.ocr_weight > 0
                                                                    and len(layout)):
        guidance = PicdGuidance(g, x_bar, config.steps, codec_model=codec_model, rate=rate, glyph=glyph_t,
                                words=layout.words if glyph is not None else [], recognizer=recognizer,
                                seed=config.seed)
    sigmas = backbone.schedule.sigmas_for(config.steps, config.resolved_denoise(adaptor is not None)).to(device)
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
    return RenderResult(image, prompt, records, time.perf_counter() - t0)


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
        """mode 'natural' drops the glyph, the OCR loss and the text prompt; codec: the file's image codec (its
        differentiable model, when it has one, drives the re-compression loss)."""
        codec_model = getattr(codec, "model", None)
        if codec_model is not None:
            codec_model = codec_model.to(self.backbone.device)
        natural = mode == "natural"
        return render_diffusion(self.backbone, image_layer, TextLayout() if natural else layout,
                                None if natural else glyph, self.config, self.adaptor, codec_model,
                                rate=quality - 1, recognizer=None if natural else self.recognizer,
                                progress=progress)
