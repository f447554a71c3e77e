"""Sigma-space sampling shared by the CLI (diffusers backbones) and ComfyUI (its own model wrapper).

Everything works on a *denoiser*: denoise(x, sigma) -> x̂₀ with x = z₀ + σ·ε (the k-diffusion convention ComfyUI
uses), so the same guided sampler runs on any backbone and prediction type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LatentDecoder = Callable[[torch.Tensor], torch.Tensor]  # x̂₀ latent -> image [B,3,H,W] in [0,1], differentiable


class Guidance(Protocol):
    def active(self, progress: float) -> bool: ...

    def loss(self, image: torch.Tensor, progress: float) -> tuple[torch.Tensor, dict[str, float]]: ...


def sd_alphas_cumprod(num_train_timesteps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012
                      ) -> torch.Tensor:
    """ᾱ of the "scaled_linear" schedule every SD 1.x/2.x/XL checkpoint was trained with."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, dim=0)


class NoiseSchedule:
    """Discrete VP schedule ↔ sigmas: σ_t = sqrt((1-ᾱ_t)/ᾱ_t)."""

    def __init__(self, alphas_cumprod: torch.Tensor):
        self.alphas_cumprod = alphas_cumprod.double().cpu()
        self.sigmas = ((1 - self.alphas_cumprod) / self.alphas_cumprod).sqrt()
        self.log_sigmas = self.sigmas.log()

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """Continuous timestep for sigma (interpolated in log σ), like ComfyUI's model_sampling.timestep."""
        log_sigma = sigma.double().cpu().clamp(min=1e-10).log()
        dists = log_sigma[:, None] - self.log_sigmas[None]
        low = (dists >= 0).cumsum(dim=1).argmax(dim=1).clamp(max=len(self.log_sigmas) - 2)
        low_v, high_v = self.log_sigmas[low], self.log_sigmas[low + 1]
        w = ((low_v - log_sigma) / (low_v - high_v)).clamp(0, 1)
        return ((1 - w) * low + w * (low + 1)).to(sigma.device, torch.float32)

    def full_sigmas(self, total: int) -> torch.Tensor:
        """total+1 sigmas: timesteps evenly spaced from the noisiest to t=0, then σ=0."""
        t = torch.linspace(len(self.sigmas) - 1, 0, total, dtype=torch.float64)
        low, frac = t.floor().long(), t - t.floor()
        high = (low + 1).clamp(max=len(self.sigmas) - 1)
        sig = ((1 - frac) * self.log_sigmas[low] + frac * self.log_sigmas[high]).exp()
        return torch.cat([sig, sig.new_zeros(1)]).float()

    def sigmas_for(self, steps: int, denoise: float = 1.0) -> torch.Tensor:
        """steps+1 sigmas of the evenly spaced schedule; denoise<1 keeps its tail (see denoise_tail)."""
        return denoise_tail(self.full_sigmas, steps, denoise)


def denoise_tail(full_sigmas: Callable[[int], torch.Tensor], steps: int, denoise: float = 1.0) -> torch.Tensor:
    """The last steps+1 sigmas of a schedule of round(steps/denoise) steps: img2img from a noised start, as
    ComfyUI's KSampler does. full_sigmas(n) returns n+1 sigmas ending in 0 (the CLI's or ComfyUI's schedule)."""
    if steps < 1:
        raise ValueError("steps must be ≥ 1")
    if not 0.0 < denoise <= 1.0:
        raise ValueError("denoise must be in (0, 1]")
    total = max(steps, int(round(steps / denoise)))
    return full_sigmas(total)[-(steps + 1):]


@dataclass
class StepRecord:
    step: int
    sigma: float
    losses: dict[str, float]
    grad_norm: float


def guided_ancestral_sample(denoise: Denoiser, x: torch.Tensor, sigmas: torch.Tensor,
                            guidance: Guidance | None = None, decode: LatentDecoder | None = None,
                            mode: str = "full", eta: float = 1.0, generator: torch.Generator | None = None,
                            callback: Callable[[dict], None] | None = None) -> tuple[torch.Tensor, list[StepRecord]]:
    """Ancestral (DDPM-like for eta=1) sampling with a DPS-style correction after every step.

    mode "full": the gradient of the guidance loss w.r.t. x_t flows back through the denoiser (DPS);
    mode "cheap": the gradient is taken w.r.t. x̂₀ only (no backprop through the UNet: faster, weaker).
    x starts at sigmas[0]·noise (+ the initial latent for img2img). Returns the final latent and per-step losses.
    """
    if mode not in ("full", "cheap"):
        raise ValueError("mode must be 'full' or 'cheap'")
    if guidance is not None and decode is None:
        raise ValueError("guidance needs a latent decoder")
    records: list[StepRecord] = []
    steps = len(sigmas) - 1
    ones = x.new_ones(x.shape[0])
    for i in range(steps):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        progress = i / max(1, steps)
        grad = None
        if guidance is not None and guidance.active(progress):
            with torch.inference_mode(False), torch.enable_grad():
                x_in = x.detach().clone().requires_grad_(mode == "full")
                denoised = denoise(x_in, sigma * ones)
                target = x_in
                if mode == "cheap":
                    denoised = denoised.detach().requires_grad_(True)
                    target = denoised
                loss, parts = guidance.loss(decode(denoised), progress)
                (grad,) = torch.autograd.grad(loss, target)
            denoised = denoised.detach()
            records.append(StepRecord(i, float(sigma), parts, float(grad.norm())))
        else:
            with torch.no_grad():
                denoised = denoise(x, sigma * ones)
        x = _ancestral_step(x.detach(), denoised, sigma, sigma_next, eta, generator)
        if grad is not None:
            x = x - grad
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigma, "sigma_hat": sigma, "denoised": denoised})
    return x, records


def _ancestral_step(x: torch.Tensor, denoised: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                    eta: float, generator: torch.Generator | None) -> torch.Tensor:
    if float(sigma_next) == 0.0:
        return denoised
    sigma_up = min(float(sigma_next), eta * float(
        (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2) ** 0.5))
    sigma_down = (float(sigma_next) ** 2 - sigma_up**2) ** 0.5
    x = x + (x - denoised) / sigma * (sigma_down - sigma)
    if sigma_up > 0:
        x = x + torch.randn(x.shape, generator=generator, device="cpu", dtype=torch.float32).to(x) * sigma_up
    return x
