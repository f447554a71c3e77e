"""Making modules loaded under torch.inference_mode usable in autograd (ComfyUI runs nodes under it)."""

from __future__ import annotations

import torch


def make_autograd_safe(module: torch.nn.Module) -> torch.nn.Module:
    """Replace inference-mode parameters/buffers (created under torch.inference_mode, as in ComfyUI's node
    execution) by ordinary tensors with the same values, so gradients can flow through the module. In place."""
    with torch.inference_mode(False):
        for mod in module.modules():
            for name, param in list(mod._parameters.items()):
                if param is not None and param.is_inference():
                    mod._parameters[name] = torch.nn.Parameter(param.clone(), requires_grad=False)
            for name, buf in list(mod._buffers.items()):
                if buf is not None and buf.is_inference():
                    mod._buffers[name] = buf.clone()
    return module
