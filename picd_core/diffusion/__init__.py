"""Diffusion rendering (PICD_SPEC §5): X̂ ~ p(X | X̄, Z) with an SD backbone, the PICD adaptor and guidance.

Backbone-agnostic pieces (adaptor, guidance, sampler, recogniser) are plain torch; `diffusers_backend` runs them on
diffusers pipelines (CLI), `nodes/comfy_diffusion.py` on ComfyUI's models.
"""

from .adaptor import AdaptorConfig, PicdAdaptor, unet_slots
from .guidance import GuidanceConfig, GuidanceTerm, PicdGuidance, register_term
from .prompt import domain_prompt
from .render import DiffusionRenderer, RenderConfig, RenderResult, render_diffusion
from .sampling import NoiseSchedule, guided_ancestral_sample

__all__ = ["AdaptorConfig", "DiffusionRenderer", "GuidanceConfig", "GuidanceTerm", "NoiseSchedule", "PicdAdaptor",
           "PicdGuidance", "RenderConfig", "RenderResult", "domain_prompt", "guided_ancestral_sample",
           "register_term", "render_diffusion", "unet_slots"]
