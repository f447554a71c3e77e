"""The VGG16 and AlexNet feature stacks of LPIPS and DISTS (torchvision's state-dict keys, no torchvision)."""

from __future__ import annotations

import torch
from torch import nn

from .weights import _SPECS, _backbone_state, _load_into, _load_weights, _unavailable


_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16Features(nn.Module):
    """The convolutional part of VGG16 (configuration D): ``features.0`` … ``features.30`` as in torchvision."""

    # end index (exclusive) of the slices ending at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    CUTS = (4, 9, 16, 23, 30)
    CHANNELS = (64, 128, 256, 512, 512)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in _VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                c_in = int(v)
        self.features = nn.Sequential(*layers)

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""
        out = []
        start = 0
        for end in self.CUTS:
            for i in range(start, end):
                x = self.features[i](x)
            out.append(x)
            start = end
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class AlexNetFeatures(nn.Module):
    """The convolutional part of torchvision's AlexNet (``features.0`` … ``features.12``)."""

    CUTS = (2, 5, 8, 10, 12)  # relu1 … relu5
    CHANNELS = (64, 192, 384, 256, 256)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=False),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=False),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )

    taps = VGG16Features.taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _load_backbone(net: nn.Module, key: str, path, download: bool, fallback: dict | None) -> None:
    spec = _SPECS[key]
    sd = fallback if fallback is not None else _backbone_state(_load_weights(key, path, download))
    if sd is None:
        raise _unavailable(spec, "has no features.* tensors")
    _load_into(net, sd, spec)


def _frozen(module: nn.Module, device) -> nn.Module:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module.to(device) if device is not None else module
