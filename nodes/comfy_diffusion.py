"""ComfyUI glue for the diffusion nodes: adaptor patching, the guided sampler. Imported only inside ComfyUI.

The model logic lives in picd_core.diffusion; this file only connects it to ComfyUI's ModelPatcher hooks
(COMFYUI_HOST.md §4–5) and samplers.
"""

from __future__ import annotations

import torch

import comfy.model_management
import comfy.model_patcher
import comfy.patcher_extension
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock

from picd_core import PicdError
from picd_core.diffusion.adaptor import FORMAT as ADAPTOR_FORMAT
from picd_core.diffusion.adaptor import PicdAdaptor
from picd_core.diffusion.autograd import make_autograd_safe
from picd_core.diffusion.guidance import GuidanceConfig
from picd_core.diffusion.render import codec_for_file, make_guidance, pad_layers
from picd_core.diffusion.sampling import denoise_tail, guided_ancestral_sample

from .logic import NodeInputError, images_to_arrays

WRAPPER_KEY = "picd_adaptor"
FEATURES_KEY = "picd_adaptor_features"


def is_adaptor_file(path: str) -> bool:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt") as f:
            return (f.metadata() or {}).get("format") == ADAPTOR_FORMAT
    except (SafetensorError, OSError):  # unreadable or not safetensors: simply not offered
        return False


def load_adaptor(adaptor_name: str, resolve_model_file):
    path = resolve_model_file(adaptor_name)
    if path is None:
        raise NodeInputError(f"PICD Adaptor Loader: {adaptor_name!r} not found; put PICD adaptor .safetensors files "
                             "in models/picd/ (picd train-adaptor writes them)")
    # Loaded outside inference mode: its weights must take part in autograd in the guided sampler.
    with torch.inference_mode(False):
        try:
            adaptor = PicdAdaptor.from_pretrained(path)
        except PicdError as exc:
            raise NodeInputError(f"PICD Adaptor Loader: {exc}") from None
    return (adaptor,), f"{adaptor_name}: {sum(p.numel() for p in adaptor.parameters()) / 1e6:.1f} M parameters"


def unet_resblocks(diffusion_model: torch.nn.Module) -> list[torch.nn.Module]:
    """ResBlocks of a ComfyUI UNetModel in forward order (the adaptor's slots)."""
    blocks = [layer for seq in diffusion_model.input_blocks for layer in seq if isinstance(layer, ResBlock)]
    blocks += [layer for layer in diffusion_model.middle_block if isinstance(layer, ResBlock)]
    blocks += [layer for seq in diffusion_model.output_blocks for layer in seq if isinstance(layer, ResBlock)]
    return blocks


def _padded_layers(image: torch.Tensor, glyph: torch.Tensor | None, node: str
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """IMAGE X̄ [B,H,W,C] (+ IMAGE glyph) → [B,3,H',W'] (+ [B,1,H',W']), padded by the renderer's one rule."""
    arrays = images_to_arrays(image, node)
    glyphs = [a[..., 0] for a in images_to_arrays(glyph, node)] if glyph is not None else [None] * len(arrays)
    pairs = [pad_layers(a, g) for a, g in zip(arrays, glyphs)]
    x_bar = torch.cat([x for x, _ in pairs])
    return x_bar, (torch.cat([g for _, g in pairs]) if glyph is not None else None)


def _encode_scaled(vae, model, image01: torch.Tensor) -> torch.Tensor:
    latent = vae.encode(image01.movedim(1, -1))
    return model.get_model_object("latent_format").process_in(latent)


def apply_adaptor(model, adaptor: PicdAdaptor, vae, image: torch.Tensor, strength: float = 1.0,
                  glyph: torch.Tensor | None = None):
    node = "PICD Adaptor Apply"
    if not isinstance(adaptor, PicdAdaptor):
        raise NodeInputError(f"{node}: connect the adaptor output of PICD Adaptor Loader")
    patched = model.clone()
    diffusion_model = patched.get_model_object("diffusion_model")
    if not hasattr(diffusion_model, "input_blocks"):
        raise NodeInputError(f"{node}: the model is not an SD-style UNet (SD 1.x/2.x/XL); PICD adaptors need one")
    blocks = unet_resblocks(diffusion_model)
    try:
        adaptor.check_slots([b.out_channels for b in blocks])
    except PicdError as exc:
        raise NodeInputError(f"{node}: {exc}") from None
    slot_of = {id(b): i for i, b in enumerate(blocks)}
    x_bar, glyph_t = _padded_layers(image, glyph if adaptor.config.use_glyph else None, node)
    latent = _encode_scaled(vae, model, x_bar)

    def diffusion_wrapper(executor, x, timesteps, context, y, control, transformer_options, **kwargs):
        device = x.device
        feats = adaptor.features(x_bar.to(device), timesteps, None if glyph_t is None else glyph_t.to(device),
                                 latent.to(device))
        transformer_options[FEATURES_KEY] = feats  # a fresh copy per model call (COMFYUI_HOST.md §4)
        return executor(x, timesteps, context, y, control, transformer_options, **kwargs)

    def resblock_handler(layer, x, emb, context, transformer_options, output_shape, time_context, num_video_frames,
                         image_only_indicator):
        h = layer(x, emb)
        feats = transformer_options.get(FEATURES_KEY)
        slot = slot_of.get(id(layer))
        return h if feats is None or slot is None else adaptor.modulate(slot, h, feats, strength)

    patched.set_model_forward_timestep_embed_patch((ResBlock, resblock_handler))
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, WRAPPER_KEY, diffusion_wrapper)
    adaptor_patcher = comfy.model_patcher.ModelPatcher(adaptor, comfy.model_management.get_torch_device(),
                                                       comfy.model_management.unet_offload_device())
    patched.set_additional_models(WRAPPER_KEY, [adaptor_patcher])
    return (patched,), f"adaptor on {len(blocks)} ResNet blocks, strength {strength:g}"


def guided_sample(model, positive, negative, vae, bitstream, image: torch.Tensor, seed: int = 0, steps: int = 20,
                  cfg: float = 1.0, denoise: float = 0.6, recompression_weight: float = 1.0, ocr_weight: float = 0.5,
                  guidance_mode: str = "full", guidance_every: int = 2, guidance_decoder: str = "auto",
                  text_layout=None, glyph: torch.Tensor | None = None, codec=None, taesd_path=None):
    node = "PICD OCR-Guided Sampler"
    if not isinstance(bitstream, list) or not bitstream:
        raise NodeInputError(f"{node}: connect a PICD bitstream (the input of PICD Decode)")
    if image.shape[0] != len(bitstream):
        raise NodeInputError(f"{node}: {image.shape[0]} images but {len(bitstream)} bitstreams; connect X̄ from the "
                             "PICD Decode that decodes this bitstream")
    guidance_config = GuidanceConfig(recompression_weight=recompression_weight, ocr_weight=ocr_weight,
                                     mode=guidance_mode)
    if guidance_every < 1:
        raise NodeInputError(f"{node}: guidance_every must be 1 or more")
    taesd = _guidance_taesd(model, guidance_decoder, taesd_path, node)
    latents, images, reports = [], [], []
    for i, picd in enumerate(bitstream):
        if (picd.height, picd.width) != tuple(image.shape[1:3]):
            raise NodeInputError(f"{node}: X̄ is {image.shape[2]}x{image.shape[1]} but the bitstream codes "
                                 f"{picd.width}x{picd.height}; connect the matching PICD Decode output")
        layout = text_layout[i] if text_layout is not None and picd.mode == "screen" else None
        glyph_i = glyph[i:i + 1] if glyph is not None and picd.mode == "screen" else None
        the_codec = codec_for_file(picd.image_codec, codec.codec if codec is not None else None)
        latent, out, report = _sample_one(model, positive, negative, vae, picd, the_codec, image[i:i + 1], layout,
                                          glyph_i, seed + i, steps, cfg, denoise, guidance_config, guidance_every,
                                          taesd)
        latents.append(latent)
        images.append(out)
        reports.append(report)
    return ({"samples": torch.cat(latents)}, torch.cat(images)), "\n".join(reports)


def _guidance_taesd(model, choice: str, taesd_path, node: str):
    """TAESD decoder for the guidance loss (auto: when models/vae_approx has the one for this model), or None."""
    if choice == "vae":
        return None
    name = getattr(model.get_model_object("latent_format"), "taesd_decoder_name", None)
    path = taesd_path(name) if taesd_path is not None else None
    if path is None:
        if choice == "taesd":
            raise NodeInputError(f"{node}: guidance_decoder is taesd but models/vae_approx has no {name or 'TAESD'} "
                                 "file; download it there (as for TAESD previews) or choose auto/vae")
        return None
    from comfy.taesd.taesd import TAESD

    with torch.inference_mode(False):  # its weights take part in autograd in the guided sampler
        channels = model.get_model_object("latent_format").latent_channels
        return TAESD(None, path, latent_channels=channels).eval()


class _EveryK:
    """Guidance applied at every k-th step only (the wrapped guidance decides the rest)."""

    def __init__(self, guidance, steps: int, k: int) -> None:
        self.guidance, self.steps, self.k = guidance, steps, k

    def active(self, progress: float) -> bool:
        step = int(round(progress * max(1, self.steps)))
        return step % self.k == 0 and self.guidance.active(progress)

    def __getattr__(self, name):
        return getattr(self.guidance, name)


def _sample_one(model, positive, negative, vae, picd, codec, image, layout, glyph, seed, steps, cfg, denoise,
                guidance_config, guidance_every=1, taesd=None):
    x_bar, glyph_t = _padded_layers(image, glyph, "PICD OCR-Guided Sampler")
    raw_latent = vae.encode(x_bar.movedim(1, -1))
    raw_latent = comfy.sample.fix_empty_latent_channels(model, raw_latent)
    noise = comfy.sample.prepare_noise(raw_latent, seed)
    sampling = model.get_model_object("model_sampling")
    sigmas = denoise_tail(lambda n: comfy.samplers.calculate_sigmas(sampling, "normal", n), steps, denoise).cpu()
    records_out: list = []
    notes: list[str] = []
    recognizer = None
    if layout is not None and len(layout) and guidance_config.ocr_weight > 0:
        from picd_core.diffusion.recognizer import load_recognizer

        with torch.inference_mode(False):
            recognizer = load_recognizer(device=str(comfy.model_management.get_torch_device()))

    def sample_fn(model_k, x, sigmas, extra_args=None, callback=None, disable=None):
        base = model_k.inner_model.inner_model
        comfy.model_management.load_models_gpu([vae.patcher])
        decoder = vae.first_stage_model
        device = x.device
        # Weights loaded under inference mode cannot take part in autograd; ordinary copies of the same values.
        # (The codec's differentiable model is a fresh copy made outside inference mode by the codec itself.)
        for module in (base.diffusion_model, decoder, recognizer, taesd):
            if module is not None:
                make_autograd_safe(module)
        with torch.inference_mode(False):
            guidance, why_off = make_guidance(guidance_config, x_bar.to(device),
                                              None if glyph_t is None else glyph_t.to(device), layout, codec,
                                              picd.image_quality, recognizer, steps, seed)
        if guidance is not None and guidance_every > 1:
            guidance = _EveryK(guidance, steps, guidance_every)
        notes.extend(why_off)
        extra_args = extra_args or {}

        def denoise_fn(xi, sigma):
            return model_k(xi, sigma, **extra_args)

        def decode_fn(latent):
            if taesd is not None:  # TAESD decodes the model-space latent directly
                pixels = taesd.to(device).decode(latent.float())
            else:
                pixels = decoder.decode(base.process_latent_out(latent).to(vae.vae_dtype))
            return ((pixels.float() + 1) / 2).clamp(0, 1)

        generator = torch.Generator().manual_seed(seed)
        out, records = guided_ancestral_sample(denoise_fn, x, sigmas.to(device), guidance, decode_fn,
                                               guidance_config.mode, 1.0, generator, callback)
        records_out.extend(records)
        return out

    callback = latent_preview.prepare_callback(model, steps)
    samples = comfy.sample.sample_custom(model, noise, cfg, comfy.samplers.KSAMPLER(sample_fn), sigmas, positive,
                                         negative, raw_latent, callback=callback,
                                         disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    decoded = vae.decode(samples)[:, : picd.height, : picd.width, :3]
    if taesd is not None:
        notes.append("guidance decoded with TAESD")
    report = _report(records_out, steps) + ("; " + "; ".join(notes) if notes else "")
    return samples, decoded, report


def _report(records, steps) -> str:
    if not records:
        return f"{steps} steps, no guidance"
    last = records[-1].losses
    first = {k: next(r.losses[k] for r in records if k in r.losses) for k in last}  # OCR starts later
    parts = [f"{k} {first[k]:.3g}→{last[k]:.3g}" for k in sorted(last)]
    return f"{steps} steps, guided {len(records)}: " + ", ".join(parts)


def adaptor_files(all_files: list[str], resolve) -> list[str]:
    return [name for name in all_files if (path := resolve(name)) and is_adaptor_file(path)]


__all__ = ["apply_adaptor", "guided_sample", "load_adaptor", "adaptor_files", "unet_resblocks"]
