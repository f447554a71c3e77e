"""Stable Diffusion backbones through diffusers (the CLI's renderer); ComfyUI uses its own model code (nodes/)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import RenderUnavailableError
from .adaptor import PicdAdaptor
from .sampling import NoiseSchedule, sd_alphas_cumprod

try:
    from safetensors import SafetensorError
except ImportError:  # diffusers needs safetensors; without it nothing below loads anyway
    SafetensorError = OSError

# What loading a model or LoRA raises for bad input: offline hub or missing files (OSError), configs or keys that do
# not fit (ValueError, KeyError, RuntimeError for shape mismatches), corrupt safetensors. Anything else is a bug.
_LOAD_ERRORS = (OSError, ValueError, KeyError, RuntimeError, SafetensorError)


def _require_diffusers():
    try:
        import diffusers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise RenderUnavailableError(
            f"diffusion rendering needs diffusers and transformers ({exc.name} is missing): "
            "pip install 'picd[diffusion]'") from None


@dataclass
class DiffusersBackbone:
    """The parts of an SD pipeline the renderer uses, with the conversions it needs."""

    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: torch.nn.Module | None
    tokenizer: object | None
    schedule: NoiseSchedule
    prediction_type: str
    scaling_factor: float
    device: torch.device
    dtype: torch.dtype

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model: str | os.PathLike, device: str = "cpu", dtype: torch.dtype = torch.float32,
             lora: str | os.PathLike | None = None, lora_scale: float = 1.0) -> "DiffusersBackbone":
        """model: a diffusers folder (offline), a single-file checkpoint, or a Hugging Face id (needs internet)."""
        ref = str(model)
        local = Path(ref).expanduser()
        if not local.exists() and (ref.count("/") != 1 or ref.startswith((".", "/", "~"))):
            raise RenderUnavailableError(f"model {ref!r} is neither a local path nor a Hugging Face id")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # before import: their notices are not ours
        _require_diffusers()
        import diffusers.utils.logging as diffusers_logging
        import transformers.utils.logging as transformers_logging
        from diffusers import StableDiffusionPipeline

        for lib in (diffusers_logging, transformers_logging):  # our own progress lines replace theirs
            lib.set_verbosity_error()
            lib.disable_progress_bar()
        try:
            if local.is_file():
                pipe = StableDiffusionPipeline.from_single_file(str(local), safety_checker=None)
            elif local.is_dir():
                if not (local / "model_index.json").is_file():
                    raise RenderUnavailableError(f"{local} is not a diffusers model folder (no model_index.json)")
                pipe = StableDiffusionPipeline.from_pretrained(str(local), safety_checker=None,
                                                               requires_safety_checker=False)
            else:
                pipe = StableDiffusionPipeline.from_pretrained(ref, safety_checker=None,
                                                               requires_safety_checker=False)
        except _LOAD_ERRORS as err:  # offline hub, missing or unreadable files, configs that do not fit
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RenderUnavailableError(
                f"could not load the diffusion model {ref!r}: {first} — pass a local diffusers folder "
                "(or a Hugging Face id on a machine with internet)") from err
        if getattr(pipe.unet.config, "addition_embed_type", None) is not None:
            raise RenderUnavailableError("this backbone (SDXL-style added conditioning) is supported in ComfyUI "
                                         "but not yet by the CLI renderer; use an SD 1.x/2.x model")
        if lora is not None:
            load_lora_into(pipe, lora, lora_scale)
        config = pipe.scheduler.config
        if getattr(config, "beta_schedule", "scaled_linear") == "scaled_linear":
            alphas = sd_alphas_cumprod(config.num_train_timesteps, config.beta_start, config.beta_end)
        else:
            alphas = pipe.scheduler.alphas_cumprod.double()
        backbone = cls(pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer, NoiseSchedule(alphas),
                       getattr(config, "prediction_type", "epsilon"), float(pipe.vae.config.scaling_factor),
                       torch.device(device), dtype)
        for module in (backbone.unet, backbone.vae, backbone.text_encoder):
            if module is not None:
                module.to(device, dtype).eval().requires_grad_(False)
        return backbone

    # ------------------------------------------------------------------ pieces
    def resnets(self) -> list[torch.nn.Module]:
        """UNet ResNet blocks in forward order (the adaptor's slots)."""
        unet = self.unet
        blocks = [r for b in unet.down_blocks for r in b.resnets]
        blocks += list(unet.mid_block.resnets) if unet.mid_block is not None else []
        blocks += [r for b in unet.up_blocks for r in b.resnets]
        return blocks

    @torch.no_grad()
    def encode_prompt(self, prompt: str) -> torch.Tensor:
        if self.text_encoder is None or self.tokenizer is None:
            raise RenderUnavailableError("the model has no text encoder/tokenizer; load a full SD pipeline")
        ids = self.tokenizer(prompt, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids.to(self.device)
        return self.text_encoder(ids)[0].to(self.dtype)

    @torch.no_grad()
    def encode_image(self, image01: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] in [0,1] → scaled latent (mode of the posterior)."""
        dist = self.vae.encode((image01 * 2 - 1).to(self.device, self.dtype)).latent_dist
        return dist.mode() * self.scaling_factor

    def decode_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """Scaled latent → [B,3,H,W] in [0,1]; differentiable (used by guidance)."""
        image = self.vae.decode(latent.to(self.dtype) / self.scaling_factor).sample
        return ((image.float() + 1) / 2).clamp(0, 1)

    def denoiser(self, context: torch.Tensor, uncond: torch.Tensor | None = None, cfg_scale: float = 1.0,
                 adaptor: PicdAdaptor | None = None, adaptor_inputs: dict | None = None, adaptor_strength: float = 1.0):
        """denoise(x, sigma) → x̂₀ for k-diffusion-style x = z₀ + σ·ε, with optional CFG and PICD adaptor."""
        hooks = AdaptorHooks(adaptor, self.resnets(), adaptor_strength) if adaptor is not None else None

        def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            t = self.schedule.timestep(sigma)
            a = (1 / (1 + sigma.float() ** 2).sqrt()).to(x)[:, None, None, None]
            s = (sigma.float().to(x)[:, None, None, None]) * a
            x_t = x * a
            ctx = context.expand(x.shape[0], -1, -1)
            inputs, tt = x_t, t
            if uncond is not None and cfg_scale != 1.0:
                inputs, tt = torch.cat([x_t, x_t]), torch.cat([t, t])
                ctx = torch.cat([uncond.expand(x.shape[0], -1, -1), ctx])
            if hooks is not None:
                hooks.features = adaptor.features(timesteps=tt.round(), **_batched(adaptor_inputs, inputs.shape[0]))
            try:
                out = self.unet(inputs.to(self.dtype), tt.to(self.device), encoder_hidden_states=ctx).sample.float()
            finally:
                if hooks is not None:
                    hooks.features = None
            if inputs.shape[0] != x.shape[0]:
                out_u, out_c = out.chunk(2)
                out = out_u + cfg_scale * (out_c - out_u)
            if self.prediction_type == "v_prediction":
                return a * x_t - s * out
            if self.prediction_type == "epsilon":
                return x - sigma.float().to(x)[:, None, None, None] * out
            raise RenderUnavailableError(f"unsupported prediction type {self.prediction_type!r}")

        denoise.hooks = hooks  # the caller removes them when sampling is done
        return denoise


def _batched(inputs: dict, batch: int) -> dict:
    out = {}
    for k, v in inputs.items():
        out[k] = v if v is None or v.shape[0] == batch else v.repeat(batch // v.shape[0], *[1] * (v.dim() - 1))
    return out


class AdaptorHooks:
    """Forward hooks that apply the adaptor's SFT to each diffusers ResNet block output; inert while features is None."""

    def __init__(self, adaptor: PicdAdaptor, resnets: list[torch.nn.Module], strength: float = 1.0):
        adaptor.check_slots([r.out_channels for r in resnets])
        self.adaptor, self.strength, self.features = adaptor, strength, None
        self.handles = [r.register_forward_hook(self._hook(i)) for i, r in enumerate(resnets)]

    def _hook(self, slot: int):
        def hook(_module, _inputs, output):
            if self.features is None:
                return output
            return self.adaptor.modulate(slot, output, self.features, self.strength)
        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def load_lora_into(pipe, lora: str | os.PathLike, scale: float = 1.0) -> None:
    """Load a standard LoRA file (kohya or diffusers/peft keys) into the pipeline's UNet at the given strength."""
    path = Path(lora)
    if not path.is_file():
        raise RenderUnavailableError(f"LoRA file not found: {path}")
    try:
        pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name="picd_domain")
        pipe.set_adapters(["picd_domain"], adapter_weights=[scale])
    except _LOAD_ERRORS as err:  # unreadable file, unknown keys, shapes of another model family
        raise RenderUnavailableError(f"could not load LoRA {path.name}: {(str(err) or type(err).__name__).splitlines()[0]}"
                                     " — pass a LoRA trained for this model family (SD 1.x vs 2.x)") from err

