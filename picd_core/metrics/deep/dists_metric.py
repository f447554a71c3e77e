"""DISTS (Ding et al. 2020), matching `DISTS_pytorch` when given its weights."""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .weights import _SPECS, _backbone_state, _load_weights, _unavailable
from .backbones import VGG16Features, _frozen, _load_backbone
from .common import _cached, _check_pair, _paired_scores


def l2_pool(x: torch.Tensor) -> torch.Tensor:
    """DISTS' L2 pooling: sqrt of a 3×3 Hann-window (``hanning(5)[1:-1]``, normalised) blur of x², stride 2, pad 1."""
    a = torch.tensor([0.5, 1.0, 0.5], dtype=x.dtype, device=x.device)
    g = a[:, None] * a[None, :]
    g = (g / g.sum()).expand(x.shape[1], 1, 3, 3)
    return torch.sqrt(F.conv2d(x * x, g, stride=2, padding=1, groups=x.shape[1]) + 1e-12)


class DISTS(nn.Module):
    """DISTS (Ding et al. 2020): VGG16 with L2 pooling, structure + texture similarity weighted by alpha/beta.

    ``forward(x, y)`` takes [B,3,H,W] images in [0, 1] (ImageNet-normalised inside) and returns [B] distances
    (0 for identical images). State-dict keys: ``alpha``, ``beta`` (shape [1,1475,1,1], as in the official
    ``weights.pt``) and ``net.features.N.*`` (torchvision VGG16 names).
    """

    CHANNELS = (3, 64, 128, 256, 512, 512)

    def __init__(self) -> None:
        super().__init__()
        self.net = VGG16Features()
        n = sum(self.CHANNELS)
        self.alpha = nn.Parameter(torch.empty(1, n, 1, 1).normal_(0.1, 0.01))
        self.beta = nn.Parameter(torch.empty(1, n, 1, 1).normal_(0.1, 0.01))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[x, relu1_2, relu2_2, relu3_3, relu4_3, relu5_3], max pools replaced by L2 pooling."""
        feats = [x]
        h = (x - self.mean) / self.std
        f = self.net.features
        start = 0
        for end in VGG16Features.CUTS:
            for i in range(start, end):
                h = l2_pool(h) if isinstance(f[i], nn.MaxPool2d) else f[i](h)
            feats.append(h)
            start = end
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_pair(x, y)
        fx, fy = self.stages(x), self.stages(y)
        c1 = c2 = 1e-6
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, list(self.CHANNELS), dim=1)
        betas = torch.split(self.beta / w_sum, list(self.CHANNELS), dim=1)
        texture = structure = 0.0
        for a, b, al, be in zip(fx, fy, alphas, betas):
            ma, mb = a.mean(dim=(2, 3), keepdim=True), b.mean(dim=(2, 3), keepdim=True)
            s1 = (2 * ma * mb + c1) / (ma * ma + mb * mb + c1)
            va = ((a - ma) ** 2).mean(dim=(2, 3), keepdim=True)
            vb = ((b - mb) ** 2).mean(dim=(2, 3), keepdim=True)
            cov = (a * b).mean(dim=(2, 3), keepdim=True) - ma * mb
            s2 = (2 * cov + c2) / (va + vb + c2)
            texture = texture + (al * s1).sum(dim=(1, 2, 3))
            structure = structure + (be * s2).sum(dim=(1, 2, 3))
        return 1.0 - (texture + structure)


def load_dists(*, weights: str | os.PathLike | None = None, backbone_weights: str | os.PathLike | None = None,
               download: bool = True, device: str | torch.device | None = None) -> DISTS:
    """DISTS with the official alpha/beta (``$PICD_DISTS_WEIGHTS``) and torchvision VGG16 (``$PICD_VGG16_WEIGHTS``;
    not needed when the DISTS file also holds ``features.*``/``net.features.*`` tensors)."""
    model = DISTS()
    sd = _load_weights("dists", weights, download)
    spec = _SPECS["dists"]
    n = sum(DISTS.CHANNELS)
    for name in ("alpha", "beta"):
        t = sd.get(name)
        if t is None or t.numel() != n:
            raise _unavailable(spec, f"has no {name!r} tensor with {n} values")
        getattr(model, name).data.copy_(t.reshape(1, n, 1, 1))
    own_backbone = _backbone_state(sd) if backbone_weights is None else None
    _load_backbone(model.net, "vgg16", backbone_weights, download, own_backbone)
    return _frozen(model, device)


def dists(reference: Any, decoded: Any, *, model: DISTS | None = None) -> float:
    """Mean DISTS over image pairs (same inputs as :func:`lpips`). The official demo first resizes images so that
    their short side is 256 px; this function scores the images as given."""
    if model is None:
        model = _cached(("dists",), load_dists)
    return float(_paired_scores(model, reference, decoded).mean())
