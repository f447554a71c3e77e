"""FID and patch FID: Fréchet distance, HiFiC patches and the pytorch-fid InceptionV3."""

from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InvalidInputError

from .weights import _SPECS, _load_into, _load_weights
from .backbones import _frozen
from .common import _cached, _image_list, _model_device, _one_image


@runtime_checkable
class FeatureExtractor(Protocol):
    """Maps [B,3,H,W] float images in [0,1] to [B, dim] features (InceptionV3FID: dim 2048, pool3)."""

    dim: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class _Conv(nn.Module):
    """Conv (no bias) + BatchNorm(eps=1e-3) + ReLU: keys ``conv.weight``, ``bn.*`` as torchvision's BasicConv2d."""

    def __init__(self, c_in: int, c_out: int, kernel_size, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pool ignores the zero padding (pytorch-fid's patch of torchvision's blocks)
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _MixedA(nn.Module):
    def __init__(self, c_in: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(c_in, 64, 1)
        self.branch5x5_1 = _Conv(c_in, 48, 1)
        self.branch5x5_2 = _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(c_in, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(c_in, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg3(x)),
        ], dim=1)


class _MixedB(nn.Module):
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = _Conv(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = _Conv(c_in, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], dim=1)


class _MixedC(nn.Module):
    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(c_in, 192, 1)
        self.branch7x7_1 = _Conv(c_in, c7, 1)
        self.branch7x7_2 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _Conv(c_in, c7, 1)
        self.branch7x7dbl_2 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _Conv(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for k in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{k}")(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))], dim=1)


class _MixedD(nn.Module):
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = _Conv(c_in, 192, 1)
        self.branch3x3_2 = _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(c_in, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x
        for k in range(1, 5):
            b = getattr(self, f"branch7x7x3_{k}")(b)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class _MixedE(nn.Module):
    def __init__(self, c_in: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool  # Mixed_7c of the FID network max-pools its pool branch (a quirk of the TF graph)
        self.branch1x1 = _Conv(c_in, 320, 1)
        self.branch3x3_1 = _Conv(c_in, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _Conv(c_in, 448, 1)
        self.branch3x3dbl_2 = _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _Conv(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(t), self.branch3x3_2b(t),
            self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d),
            self.branch_pool(pooled),
        ], dim=1)


class InceptionV3FID(nn.Module):
    """The InceptionV3 of TensorFlow's FID (``pt_inception-2015-12-05``, as in pytorch-fid), returning the 2048-d
    pool3 features. Input: [B,3,H,W] in [0,1]; resized to 299×299 (bilinear, no antialias) and mapped to [-1,1]
    exactly as pytorch-fid does. State-dict keys are torchvision's ``Inception3`` names without ``AuxLogits``,
    with a 1008-way ``fc`` (unused here, kept so the official file loads strictly)."""

    dim = 2048

    def __init__(self, resize_input: bool = True) -> None:
        super().__init__()
        self.resize_input = resize_input
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b = _MixedA(192, 32)
        self.Mixed_5c = _MixedA(256, 64)
        self.Mixed_5d = _MixedA(288, 64)
        self.Mixed_6a = _MixedB(288)
        self.Mixed_6b = _MixedC(768, 128)
        self.Mixed_6c = _MixedC(768, 160)
        self.Mixed_6d = _MixedC(768, 160)
        self.Mixed_6e = _MixedC(768, 192)
        self.Mixed_7a = _MixedD(768)
        self.Mixed_7b = _MixedE(1280, max_pool=False)
        self.Mixed_7c = _MixedE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize_input:
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def load_fid_inception(weights: str | os.PathLike | None = None, *, download: bool = True,
                       device: str | torch.device | None = None) -> InceptionV3FID:
    """The FID InceptionV3 with the pytorch-fid weights (``$PICD_INCEPTION_WEIGHTS``), frozen, in eval mode."""
    model = InceptionV3FID()
    _load_into(model, _load_weights("inception", weights, download), _SPECS["inception"])
    return _frozen(model, device)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """‖μ1−μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1Σ2)^½) (float64, scipy's sqrtm; if the product is singular an ε·I is added to
    both covariances, and a negligible imaginary part of the root is dropped, as in pytorch-fid)."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise InvalidInputError(f"mismatched statistics: {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise InvalidInputError(f"sqrtm(Σ1Σ2) has a large imaginary part ({np.max(np.abs(covmean.imag)):.3g})")
        covmean = covmean.real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def feature_statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, N−1) covariance of [N, D] features."""
    f = features.detach().cpu().double().numpy() if isinstance(features, torch.Tensor) else np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise InvalidInputError(f"need [N, D] features with N ≥ 2, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def extract_patches(image: Any, patch_size: int = 256, *, shifted: bool = True) -> torch.Tensor:
    """Patch-FID crops of one image (HiFiC, Mentzer et al. 2020): the ⌊H/p⌋·⌊W/p⌋ non-overlapping p×p tiles from the
    top-left corner, plus (with `shifted`) the (⌊H/p⌋−1)·(⌊W/p⌋−1) tiles of the same grid offset by p/2 in both
    directions. Returns [N,3,p,p] float in [0,1] (N = 0 for images smaller than p).

    (The HiFiC formula is used for the shifted count; implementations that tile the p/2-cropped image instead get
    one more row/column when H or W mod p ≥ p/2.)"""
    t = _one_image(image)
    _, h, w = t.shape
    p = int(patch_size)
    nh, nw = h // p, w // p
    tiles = [t[:, i * p:(i + 1) * p, j * p:(j + 1) * p] for i in range(nh) for j in range(nw)]
    if shifted:
        o = p // 2
        tiles += [t[:, o + i * p:o + (i + 1) * p, o + j * p:o + (j + 1) * p]
                  for i in range(nh - 1) for j in range(nw - 1)]
    return torch.stack(tiles) if tiles else t.new_zeros((0, 3, p, p))


def image_features(images: Any, extractor: FeatureExtractor, *, batch_size: int = 16) -> np.ndarray:
    """[N, dim] float64 features of images (a [N,3,H,W] tensor, or a list of same- or different-size images)."""
    dev = _model_device(extractor) if isinstance(extractor, nn.Module) else torch.device("cpu")
    items = _image_list(images)
    feats = []
    with torch.no_grad():
        i = 0
        while i < len(items):
            j = i + 1  # batch consecutive images of equal size
            while j < len(items) and j - i < batch_size and items[j].shape == items[i].shape:
                j += 1
            out = extractor(torch.stack(items[i:j]).to(dev))
            feats.append(out.reshape(out.shape[0], -1).double().cpu().numpy())
            i = j
    return np.concatenate(feats, axis=0) if feats else np.zeros((0, getattr(extractor, "dim", 0)))


def _default_extractor(extractor):
    if extractor is None:
        extractor = _cached(("inception",), load_fid_inception)
    return extractor


def fid(references: Any, decoded: Any, *, extractor: FeatureExtractor | None = None, batch_size: int = 16) -> float:
    """FID between two image sets (whole images, resized to 299 by the Inception). Default extractor: the
    pytorch-fid InceptionV3 via :func:`load_fid_inception`."""
    extractor = _default_extractor(extractor)
    f1 = image_features(references, extractor, batch_size=batch_size)
    f2 = image_features(decoded, extractor, batch_size=batch_size)
    return frechet_distance(*feature_statistics(f1), *feature_statistics(f2))


def patch_fid(references: Any, decoded: Any, *, extractor: FeatureExtractor | None = None, patch_size: int = 256,
              shifted: bool = True, batch_size: int = 16) -> float:
    """Patch FID as in HiFiC / the learned-compression literature: every image pair is cut into the 256×256 crops
    of :func:`extract_patches` (plus the half-shifted grid), and FID is taken between the two sets of crops."""
    extractor = _default_extractor(extractor)
    refs, decs = _image_list(references), _image_list(decoded)
    if len(refs) != len(decs):
        raise InvalidInputError(f"{len(refs)} reference images but {len(decs)} decoded ones")
    pr, pd = [], []
    for r, d in zip(refs, decs):
        if r.shape != d.shape:
            raise InvalidInputError(f"images differ in shape: {tuple(r.shape)} vs {tuple(d.shape)}")
        pr.append(extract_patches(r, patch_size, shifted=shifted))
        pd.append(extract_patches(d, patch_size, shifted=shifted))
    a, b = torch.cat(pr), torch.cat(pd)
    if a.shape[0] < 2:
        raise InvalidInputError(f"only {a.shape[0]} patch(es) of {patch_size}px: images too small or too few")
    f1 = image_features(a, extractor, batch_size=batch_size)
    f2 = image_features(b, extractor, batch_size=batch_size)
    return frechet_distance(*feature_statistics(f1), *feature_statistics(f2))
