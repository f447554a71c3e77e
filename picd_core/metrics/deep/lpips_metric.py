"""LPIPS v0.1 (Zhang et al. 2018), matching the `lpips` package when given its weights."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ...errors import InvalidInputError

from .weights import _SPECS, _backbone_state, _load_weights, _unavailable
from .backbones import AlexNetFeatures, VGG16Features, _frozen, _load_backbone
from .common import _cached, _check_pair, _paired_scores


class _ScalingLayer(nn.Module):
    """LPIPS v0.1 input scaling: maps [-1, 1] inputs to roughly ImageNet-normalised ones."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class _NetLin(nn.Module):
    """1×1 conv without bias behind a dropout (identity at eval): keys ``model.1.weight`` as in LPIPS."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))


def _unit_normalize(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + eps)


class LPIPS(nn.Module):
    """LPIPS v0.1 (Zhang et al. 2018). ``forward(x, y)`` takes [B,3,H,W] images in [0, 1] and returns [B] distances.

    State-dict keys: ``scaling_layer.shift/scale``, ``net.features.N.*`` (the backbone, torchvision names) and
    ``lin0.model.1.weight`` … ``lin4.model.1.weight`` (the official ``vgg.pth``/``alex.pth`` keys).
    """

    def __init__(self, net: str = "vgg") -> None:
        super().__init__()
        if net not in ("vgg", "alex"):
            raise InvalidInputError(f"LPIPS net must be 'vgg' or 'alex', not {net!r}")
        self.net_type = net
        self.scaling_layer = _ScalingLayer()
        self.net: VGG16Features | AlexNetFeatures = VGG16Features() if net == "vgg" else AlexNetFeatures()
        for k, c in enumerate(self.net.CHANNELS):
            self.add_module(f"lin{k}", _NetLin(c))

    @property
    def lins(self) -> list[_NetLin]:
        return [getattr(self, f"lin{k}") for k in range(len(self.net.CHANNELS))]

    def layer_distances(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer contributions, each [B]; their sum is the LPIPS distance."""
        _check_pair(x, y)
        fx = self.net.taps(self.scaling_layer(2.0 * x - 1.0))
        fy = self.net.taps(self.scaling_layer(2.0 * y - 1.0))
        out = []
        for lin, a, b in zip(self.lins, fx, fy):
            d = (_unit_normalize(a) - _unit_normalize(b)) ** 2
            out.append(lin.model(d).mean(dim=(1, 2, 3)))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.layer_distances(x, y), dim=0).sum(dim=0)


def _lin_state(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in sd.items():
        parts = k.split(".")
        if parts[0].startswith("lin") and parts[0][3:].isdigit() and parts[-1] == "weight":
            out[f"{parts[0]}.model.1.weight"] = v  # also accepts the no-dropout layout lin0.model.weight
    return out


def load_lpips(net: str = "vgg", *, weights: str | os.PathLike | None = None,
               backbone_weights: str | os.PathLike | None = None, download: bool = True,
               device: str | torch.device | None = None) -> LPIPS:
    """LPIPS v0.1 with the official linear layers and the torchvision ImageNet backbone, frozen, in eval mode.

    ``weights``: the LPIPS linear-layer file (``$PICD_LPIPS_WEIGHTS``/``$PICD_LPIPS_ALEX_WEIGHTS``); if it also holds
    the backbone (a full LPIPS state dict) no backbone file is needed. ``backbone_weights``: the torchvision
    checkpoint (``$PICD_VGG16_WEIGHTS``/``$PICD_ALEXNET_WEIGHTS``).
    """
    model = LPIPS(net)
    lin_key, bb_key = ("lpips_vgg", "vgg16") if net == "vgg" else ("lpips_alex", "alexnet")
    sd = _load_weights(lin_key, weights, download)
    lin = _lin_state(sd)
    spec = _SPECS[lin_key]
    for k, c in enumerate(model.net.CHANNELS):
        t = lin.get(f"lin{k}.model.1.weight")
        if t is None or tuple(t.shape) != (1, c, 1, 1):
            raise _unavailable(spec, f"has no lin{k}.model.1.weight of shape (1, {c}, 1, 1)")
        getattr(model, f"lin{k}").model[1].weight.data.copy_(t)
    own_backbone = _backbone_state(sd) if backbone_weights is None else None
    _load_backbone(model.net, bb_key, backbone_weights, download, own_backbone)
    return _frozen(model, device)


def lpips(reference: Any, decoded: Any, *, net: str = "vgg", model: LPIPS | None = None) -> float:
    """Mean LPIPS v0.1 over image pairs (uint8 HxWx3 arrays or [B,3,H,W]/[3,H,W] tensors in [0,1]).

    Without `model` the default one is loaded (and kept) via :func:`load_lpips`."""
    if model is None:
        model = _cached(("lpips", net), lambda: load_lpips(net))
    return float(_paired_scores(model, reference, decoded).mean())
