"""Domain LoRA on an SD UNet: attach with peft, export as a standard (kohya-style) LoRA file.

The file uses `lora_unet_<diffusers module path with _>.lora_down/.lora_up/.alpha` keys: ComfyUI's LoraLoader maps
every UNet module in that form (its diffusers/peft `to_q…` keys are not mapped), and diffusers' load_lora_weights
converts it too.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import RenderUnavailableError

# PICD_SPEC §5.2: attention projections plus the ResNet convolutions and time projections.
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "conv1", "conv2", "time_emb_proj"]


def add_lora(unet: torch.nn.Module, rank: int = 256, alpha: float | None = None,
             targets: list[str] | None = None) -> None:
    """Attach a trainable LoRA adapter named 'picd_domain' (peft); everything else stays frozen."""
    try:
        from peft import LoraConfig
    except ImportError:
        raise RenderUnavailableError("LoRA training needs peft: pip install 'picd[diffusion]'") from None
    config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else rank, init_lora_weights="gaussian",
                        target_modules=targets or LORA_TARGETS)
    unet.requires_grad_(False)
    unet.add_adapter(config, adapter_name="picd_domain")


def lora_state_dict(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The attached adapter as kohya-style tensors (lora_down = A, lora_up = B, alpha per module)."""
    from peft.tuners.lora import LoraLayer

    out: dict[str, torch.Tensor] = {}
    for name, module in unet.named_modules():
        if not isinstance(module, LoraLayer) or "picd_domain" not in module.lora_A:
            continue
        key = "lora_unet_" + name.replace(".", "_")
        rank = module.r["picd_domain"]
        scaling = module.scaling["picd_domain"]  # peft's alpha/r (or alpha/sqrt(r) with rsLoRA)
        out[key + ".lora_down.weight"] = module.lora_A["picd_domain"].weight.detach().cpu().contiguous()
        out[key + ".lora_up.weight"] = module.lora_B["picd_domain"].weight.detach().cpu().contiguous()
        out[key + ".alpha"] = torch.tensor(float(scaling * rank))
    return out


def save_lora(unet: torch.nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> int:
    from safetensors.torch import save_file

    state = lora_state_dict(unet)
    if not state:
        raise RenderUnavailableError("the UNet has no 'picd_domain' LoRA adapter to save")
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    save_file(state, str(tmp), metadata={"format": "picd-lora", "ss_network_module": "networks.lora",
                                         **(metadata or {})})
    tmp.replace(path)
    return len(state) // 3
