"""Deep-feature perceptual metrics of the PICD paper: LPIPS, DISTS, FID / patch FID and CLIP score.

Every network is defined here (no torchvision); only the *weights* come from outside, and they are the standard
published files, so the numbers match the reference implementations when those files are supplied:

- LPIPS v0.1 (``lpips`` package), net "vgg": torchvision ``vgg16-397923af.pth`` (``$PICD_VGG16_WEIGHTS``) and the
  LPIPS linear layers ``weights/v0.1/vgg.pth`` (``$PICD_LPIPS_WEIGHTS``); net "alex": ``alexnet-owt-7be5be79.pth``
  (``$PICD_ALEXNET_WEIGHTS``) and ``weights/v0.1/alex.pth`` (``$PICD_LPIPS_ALEX_WEIGHTS``).
- DISTS (``DISTS_pytorch``): ``vgg16-397923af.pth`` (``$PICD_VGG16_WEIGHTS``) and ``weights.pt`` holding alpha/beta
  (``$PICD_DISTS_WEIGHTS``).
- FID / patch FID (``pytorch-fid``): ``pt_inception-2015-12-05-6726825d.pth`` (``$PICD_INCEPTION_WEIGHTS``).
- CLIP score / CLIP image similarity: a Hugging Face CLIP folder or hub id (``$PICD_CLIP_MODEL``, default
  ``openai/clip-vit-base-patch32``).

Weights are looked up in this order: the path given to the loader, the env var, the file shipped inside the
reference pip package (``lpips``, ``DISTS_pytorch``) when that is installed, the torch hub cache
(``$TORCH_HOME/hub/checkpoints``), and finally a download from the official URL (``download=True``). When none works
a one-line :class:`MetricUnavailableError` says which file to get and which env var to set. ``.pth``/``.pt`` files
are read with ``torch.load(weights_only=True)``; ``.safetensors`` files work too.

Images are ``[B,3,H,W]`` float tensors in [0, 1] for the ``nn.Module`` s, and additionally ``HxWx3`` uint8 arrays
(or lists of them) for the convenience functions.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError, PicdError

__all__ = [
    "ALEXNET_URL",
    "CLIP_DEFAULT_MODEL",
    "CLIP_MEAN",
    "CLIP_STD",
    "DISTS",
    "DISTS_URL",
    "FID_INCEPTION_URL",
    "LPIPS",
    "LPIPS_ALEX_URL",
    "LPIPS_VGG_URL",
    "VGG16_URL",
    "AlexNetFeatures",
    "ClipModel",
    "FeatureExtractor",
    "InceptionV3FID",
    "MetricUnavailableError",
    "VGG16Features",
    "available_deep_metrics",
    "clip_image_embeddings",
    "clip_image_similarity",
    "clip_preprocess",
    "clip_score",
    "clip_text_embeddings",
    "dists",
    "extract_patches",
    "feature_statistics",
    "fid",
    "frechet_distance",
    "image_features",
    "l2_pool",
    "load_clip",
    "load_dists",
    "load_fid_inception",
    "load_lpips",
    "lpips",
    "patch_fid",
]


class MetricUnavailableError(PicdError):
    """A deep metric cannot run here: its weights (or library) are missing. The message names the file and env var."""


# Official download locations.
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
LPIPS_VGG_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth"
LPIPS_ALEX_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth"
DISTS_URL = "https://github.com/dingkeyan93/DISTS/raw/master/DISTS_pytorch/weights.pt"
FID_INCEPTION_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
CLIP_DEFAULT_MODEL = "openai/clip-vit-base-patch32"  # the ViT-B/32 of Hessel et al.'s CLIPScore
CLIP_ENV = "PICD_CLIP_MODEL"


# ----------------------------------------------------------------------------------------------------------------
# Weight resolution
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _WeightSpec:
    what: str  # human name
    env: str
    url: str
    file_name: str  # name in the torch hub cache
    check_hash: bool = False  # the file name carries a sha256 prefix (torchvision convention)
    package: tuple[str, str] | None = None  # (pip package, file inside it) shipping the same file


_SPECS: dict[str, _WeightSpec] = {
    "vgg16": _WeightSpec("torchvision VGG16 ImageNet weights", "PICD_VGG16_WEIGHTS", VGG16_URL,
                         "vgg16-397923af.pth", check_hash=True),
    "alexnet": _WeightSpec("torchvision AlexNet ImageNet weights", "PICD_ALEXNET_WEIGHTS", ALEXNET_URL,
                           "alexnet-owt-7be5be79.pth", check_hash=True),
    "lpips_vgg": _WeightSpec("LPIPS v0.1 vgg linear layers", "PICD_LPIPS_WEIGHTS", LPIPS_VGG_URL,
                             "lpips_v0.1_vgg.pth", package=("lpips", "weights/v0.1/vgg.pth")),
    "lpips_alex": _WeightSpec("LPIPS v0.1 alex linear layers", "PICD_LPIPS_ALEX_WEIGHTS", LPIPS_ALEX_URL,
                              "lpips_v0.1_alex.pth", package=("lpips", "weights/v0.1/alex.pth")),
    "dists": _WeightSpec("DISTS alpha/beta weights", "PICD_DISTS_WEIGHTS", DISTS_URL, "dists_weights.pt",
                         package=("DISTS_pytorch", "weights.pt")),
    "inception": _WeightSpec("pytorch-fid Inception weights", "PICD_INCEPTION_WEIGHTS", FID_INCEPTION_URL,
                             "pt_inception-2015-12-05-6726825d.pth"),
}


def _unavailable(spec: _WeightSpec, why: str) -> MetricUnavailableError:
    url_name = spec.url.rsplit("/", 1)[-1]
    msg = f"{spec.what} {why}: download {url_name} from {spec.url} and set {spec.env} to its path"
    return MetricUnavailableError(" ".join(msg.split()))  # one line


def _package_file(package: str, rel: str) -> Path | None:
    """A data file inside an installed package, found without importing the package."""
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for base in found.submodule_search_locations:
        p = Path(base) / rel
        if p.is_file():
            return p
    return None


def _hub_cache_file(spec: _WeightSpec) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / spec.file_name


def _find_weights(key: str, path: str | os.PathLike | None = None) -> Path | None:
    """The local weights file for `key` (explicit path > env var > pip package > hub cache), or None."""
    spec = _SPECS[key]
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise _unavailable(spec, f"file {str(p)!r} not found")
        return p
    env = os.environ.get(spec.env)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise _unavailable(spec, f"file {env!r} (from {spec.env}) not found")
        return p
    if spec.package is not None:
        p = _package_file(*spec.package)
        if p is not None:
            return p
    p = _hub_cache_file(spec)
    return p if p.is_file() else None


def _clean_state_dict(sd: Any) -> dict[str, torch.Tensor]:
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise InvalidInputError(f"weights file holds a {type(sd).__name__}, not a state dict")
    out = {}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            continue
        out[k.removeprefix("module.")] = v
    return out


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return _clean_state_dict(load_file(str(path), device="cpu"))
    return _clean_state_dict(torch.load(str(path), map_location="cpu", weights_only=True))


def _load_weights(key: str, path: str | os.PathLike | None = None, download: bool = True) -> dict[str, torch.Tensor]:
    spec = _SPECS[key]
    p = _find_weights(key, path)
    if p is not None:
        try:
            return _read_state_dict(p)
        except (OSError, RuntimeError, ValueError, InvalidInputError) as e:
            raise _unavailable(spec, f"file {str(p)!r} cannot be read ({type(e).__name__}: {e})") from e
    if not download:
        raise _unavailable(spec, "not found (downloads disabled)")
    try:
        sd = torch.hub.load_state_dict_from_url(spec.url, map_location="cpu", progress=False,
                                                check_hash=spec.check_hash, file_name=spec.file_name,
                                                weights_only=True)
    except Exception as e:  # any network/IO failure means "not available"
        raise _unavailable(spec, f"not found locally and the download failed ({type(e).__name__}: {e})") from e
    return _clean_state_dict(sd)


def _first(keys: Iterable[str], n: int = 4) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f" … ({len(keys)} in all)" if len(keys) > n else "")


def _load_into(module: nn.Module, sd: dict[str, torch.Tensor], spec: _WeightSpec) -> None:
    """Strict load that tolerates absent BatchNorm ``num_batches_tracked`` counters; errors name the file."""
    sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    try:
        missing, unexpected = module.load_state_dict(sd, strict=False)
    except RuntimeError as e:  # shape mismatch
        raise _unavailable(spec, f"has the wrong layout ({' '.join(str(e).split())[:300]})") from e
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise _unavailable(spec, f"has the wrong layout (missing: {_first(missing) or '-'}; "
                                 f"unexpected: {_first(unexpected) or '-'})")


def _backbone_state(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """``features.N.*`` tensors of a torchvision VGG16/AlexNet checkpoint, of a full ``lpips.LPIPS`` state dict
    (``net.sliceK.N.*``) or of a bare ``features`` state dict (``N.weight``); None when there are none."""
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        parts = k.split(".")
        if parts[0] == "features":
            out[k] = v
        elif parts[0] == "net" and len(parts) == 4 and parts[1].startswith("slice"):
            out[f"features.{parts[2]}.{parts[3]}"] = v
        elif parts[0] == "net" and len(parts) == 4 and parts[1] == "features":
            out[".".join(parts[1:])] = v
        elif len(parts) == 2 and parts[0].isdigit() and parts[1] in ("weight", "bias"):
            out[f"features.{k}"] = v
    return out or None


# ----------------------------------------------------------------------------------------------------------------
# Backbones (state-dict keys equal torchvision's ``vgg16().features`` / ``alexnet().features``)
# ----------------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------------
# LPIPS
# ----------------------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------------------
# DISTS
# ----------------------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------------------
# Image conversion helpers
# ----------------------------------------------------------------------------------------------------------------


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
        raise InvalidInputError(f"need two [B,3,H,W] batches of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def _one_image(img: Any) -> torch.Tensor:
    """One image (HxWx3 array/PIL image, or 3xHxW tensor) → float32 [3,H,W] in [0,1]."""
    if isinstance(img, torch.Tensor):
        t = img.detach()
        if t.dim() != 3 or t.shape[0] != 3:
            raise InvalidInputError(f"image tensors must be [3,H,W], got {tuple(t.shape)}")
        return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InvalidInputError(f"images must be HxWx3 arrays, got shape {a.shape}")
    a = a[..., :3]
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)
    return t.float() / 255.0 if a.dtype == np.uint8 else t.float()


def _image_list(images: Any) -> list[torch.Tensor]:
    """A batch ([B,3,H,W] tensor, BxHxWx3 array) or one image or a sequence of images → list of [3,H,W] tensors."""
    if isinstance(images, torch.Tensor):
        if images.dim() == 4:
            return [_one_image(t) for t in images]
        return [_one_image(images)]
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return [_one_image(a) for a in images]
        return [_one_image(images)]
    if isinstance(images, (list, tuple)):
        return [_one_image(a) for a in images]
    return [_one_image(images)]  # PIL image


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _paired_scores(model: nn.Module, reference: Any, decoded: Any) -> np.ndarray:
    refs, decs = _image_list(reference), _image_list(decoded)
    if len(refs) != len(decs):
        raise InvalidInputError(f"{len(refs)} reference images but {len(decs)} decoded ones")
    dev = _model_device(model)
    out = []
    with torch.no_grad():
        for r, d in zip(refs, decs):
            if r.shape != d.shape:
                raise InvalidInputError(f"images differ in shape: {tuple(r.shape)} vs {tuple(d.shape)}")
            out.append(float(model(r[None].to(dev), d[None].to(dev))[0]))
    return np.asarray(out, dtype=np.float64)


_MODEL_CACHE: dict[tuple, Any] = {}


def _cached(key: tuple, make):
    env_state = tuple(os.environ.get(s.env) for s in _SPECS.values()) + (os.environ.get(CLIP_ENV),)
    full = key + env_state
    if full not in _MODEL_CACHE:
        _MODEL_CACHE[full] = make()
    return _MODEL_CACHE[full]


def lpips(reference: Any, decoded: Any, *, net: str = "vgg", model: LPIPS | None = None) -> float:
    """Mean LPIPS v0.1 over image pairs (uint8 HxWx3 arrays or [B,3,H,W]/[3,H,W] tensors in [0,1]).

    Without `model` the default one is loaded (and kept) via :func:`load_lpips`."""
    if model is None:
        model = _cached(("lpips", net), lambda: load_lpips(net))
    return float(_paired_scores(model, reference, decoded).mean())


def dists(reference: Any, decoded: Any, *, model: DISTS | None = None) -> float:
    """Mean DISTS over image pairs (same inputs as :func:`lpips`). The official demo first resizes images so that
    their short side is 256 px; this function scores the images as given."""
    if model is None:
        model = _cached(("dists",), load_dists)
    return float(_paired_scores(model, reference, decoded).mean())


# ----------------------------------------------------------------------------------------------------------------
# FID: Fréchet distance, patches, the pytorch-fid InceptionV3
# ----------------------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------------------
# CLIP
# ----------------------------------------------------------------------------------------------------------------

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class ClipModel:
    """A loaded CLIP: the transformers ``CLIPModel``, its tokenizer and the image preprocessing constants."""

    model: Any
    tokenizer: Any
    image_size: int
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    @property
    def device(self) -> torch.device:
        return _model_device(self.model)


def _clip_unavailable(source: str, why: str) -> MetricUnavailableError:
    msg = (f"CLIP model {source!r} {why}: set {CLIP_ENV} to a local Hugging Face CLIP folder "
           f"(e.g. a download of {CLIP_DEFAULT_MODEL}) or allow the download")
    return MetricUnavailableError(" ".join(msg.split()))


def _clip_source(model: str | os.PathLike | None) -> tuple[str, str]:
    if model is not None:
        return str(model), "argument"
    env = os.environ.get(CLIP_ENV)
    if env:
        return env, CLIP_ENV
    return CLIP_DEFAULT_MODEL, "default"


def _looks_like_path(s: str) -> bool:
    """A local folder (existing, or written as an absolute/relative/home path) rather than a Hugging Face id."""
    return s.startswith((".", "/", "~", "\\")) or Path(s).expanduser().exists()


def load_clip(model: str | os.PathLike | None = None, *, download: bool = True,
              device: str | torch.device | None = None) -> ClipModel:
    """A transformers CLIP from a local folder or Hugging Face id (argument > ``$PICD_CLIP_MODEL`` >
    ``openai/clip-vit-base-patch32``). Hub ids are taken from the local cache first and downloaded only with
    ``download=True`` (and where there is internet)."""
    source, origin = _clip_source(model)
    try:
        from transformers import AutoTokenizer, CLIPModel
    except ImportError:
        raise MetricUnavailableError("CLIP metrics need transformers: pip install 'picd[diffusion]'") from None
    local = Path(source).expanduser()
    if _looks_like_path(source):
        if not (local / "config.json").is_file():
            where = f" (from {CLIP_ENV})" if origin == CLIP_ENV else ""
            raise _clip_unavailable(source, f"is not a model folder{where}")
        attempts: list[dict[str, Any]] = [{"local_files_only": True}]
        source = str(local)
    else:
        attempts = [{"local_files_only": True}] + ([{}] if download else [])
    last: Exception | None = None
    for kw in attempts:
        try:
            clip = CLIPModel.from_pretrained(source, **kw)
            tok = AutoTokenizer.from_pretrained(source, **kw)
            break
        except Exception as e:  # noqa: BLE001 - OSError/ValueError/HTTP errors all mean "not available"
            last = e
    else:
        why = "cannot be loaded" + ("" if download else " from the local cache (downloads disabled)")
        raise _clip_unavailable(source, f"{why} ({type(last).__name__}: {str(last)[:200]})") from last
    clip.eval()
    for p in clip.parameters():
        p.requires_grad_(False)
    if device is not None:
        clip.to(device)
    return ClipModel(clip, tok, int(clip.config.vision_config.image_size))


def clip_preprocess(images: Any, image_size: int = 224, mean=CLIP_MEAN, std=CLIP_STD) -> torch.Tensor:
    """CLIP's image preprocessing (as ``CLIPImageProcessor``): short side → `image_size` (PIL bicubic), centre crop
    to a square, scale to [0,1], normalise with the CLIP mean/std. Returns [N,3,S,S] float32."""
    from PIL import Image

    out = []
    for t in _image_list(images):
        a = (t.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
        im = Image.fromarray(a)
        w, h = im.size
        s = image_size
        nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
        im = im.resize((nw, nh), Image.BICUBIC)
        left, top = (nw - s) // 2, (nh - s) // 2
        im = im.crop((left, top, left + s, top + s))
        out.append(torch.from_numpy(np.asarray(im, np.float32) / 255.0).permute(2, 0, 1))
    x = torch.stack(out)
    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    sd = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / sd


def _clip(model: ClipModel | str | os.PathLike | None) -> ClipModel:
    if isinstance(model, ClipModel):
        return model
    return _cached(("clip", None if model is None else str(model)), lambda: load_clip(model))


def clip_image_embeddings(images: Any, *, model: ClipModel | str | None = None,
                          batch_size: int = 16) -> torch.Tensor:
    """Unit-norm CLIP image embeddings [N, D]."""
    cm = _clip(model)
    x = clip_preprocess(images, cm.image_size, cm.mean, cm.std)
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            v = cm.model.vision_model(pixel_values=x[i:i + batch_size].to(cm.device)).pooler_output
            out.append(cm.model.visual_projection(v))
    return F.normalize(torch.cat(out).float(), dim=-1)


def clip_text_embeddings(texts: Sequence[str], *, model: ClipModel | str | None = None) -> torch.Tensor:
    """Unit-norm CLIP text embeddings [N, D] (truncated to the model's 77-token context)."""
    cm = _clip(model)
    if isinstance(texts, str):
        texts = [texts]
    n_ctx = int(cm.model.config.text_config.max_position_embeddings)
    enc = cm.tokenizer(list(texts), padding=True, truncation=True, max_length=n_ctx, return_tensors="pt")
    with torch.no_grad():
        t = cm.model.text_model(input_ids=enc["input_ids"].to(cm.device),
                                attention_mask=enc["attention_mask"].to(cm.device)).pooler_output
        t = cm.model.text_projection(t)
    return F.normalize(t.float(), dim=-1)


def clip_score(images: Any, captions: Sequence[str] | str, *, model: ClipModel | str | None = None,
               w: float = 100.0, prefix: str = "") -> np.ndarray:
    """CLIPScore per (image, caption) pair: ``w · max(cos(E_img, E_txt), 0)``.

    Default ``w=100`` is the torchmetrics/"CLIP score" convention used in image-generation papers; ``w=2.5`` with
    ``prefix="A photo depicts "`` is Hessel et al.'s reference CLIP-S."""
    if isinstance(captions, str):
        captions = [captions]
    img = clip_image_embeddings(images, model=model)
    if img.shape[0] != len(captions):
        raise InvalidInputError(f"{img.shape[0]} images but {len(captions)} captions")
    txt = clip_text_embeddings([prefix + c for c in captions], model=model)
    cos = (img * txt).sum(dim=-1).clamp(min=0.0)
    return (w * cos).double().numpy()


def clip_image_similarity(references: Any, decoded: Any, *, model: ClipModel | str | None = None) -> np.ndarray:
    """Cosine similarity in [-1, 1] between the CLIP image embeddings of each original and decoded image."""
    a = clip_image_embeddings(references, model=model)
    b = clip_image_embeddings(decoded, model=model)
    if a.shape != b.shape:
        raise InvalidInputError(f"{a.shape[0]} reference images but {b.shape[0]} decoded ones")
    return (a * b).sum(dim=-1).double().numpy()


# ----------------------------------------------------------------------------------------------------------------
# Availability
# ----------------------------------------------------------------------------------------------------------------


def _state_keys(path: Path) -> set[str]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return set(f.keys())
    return set(_read_state_dict(path))


def _local_reason(*keys: str, embedded_backbone_in: str | None = None) -> str | None:
    """None if every weights file is found locally, else a one-line reason (no download is attempted)."""
    found: dict[str, Path | None] = {}
    for k in keys:
        try:
            found[k] = _find_weights(k)
        except MetricUnavailableError as e:
            return str(e)
    missing = [k for k, p in found.items() if p is None]
    if embedded_backbone_in and missing and found.get(embedded_backbone_in) is not None:
        try:  # a full LPIPS/DISTS state dict carries its own backbone
            keys = _state_keys(found[embedded_backbone_in])
        except Exception as e:  # noqa: BLE001 - an unreadable file is reported as such
            return str(_unavailable(_SPECS[embedded_backbone_in], f"cannot be read ({type(e).__name__})"))
        if _backbone_state(dict.fromkeys(keys, torch.empty(0))):
            missing = [k for k in missing if k not in ("vgg16", "alexnet")]
    if not missing:
        return None
    spec = _SPECS[missing[0]]
    return str(_unavailable(spec, "not found locally (it is downloaded on first use where there is internet)"))


def available_deep_metrics() -> dict[str, str | None]:
    """Which deep metrics can run from local files: name → None (available) or the reason it cannot.

    Checks only local sources (argument-free: env vars, pip-package files, the torch hub / Hugging Face caches);
    a metric marked unavailable may still work with ``download=True`` where there is internet."""
    out: dict[str, str | None] = {
        "lpips_vgg": _local_reason("lpips_vgg", "vgg16", embedded_backbone_in="lpips_vgg"),
        "lpips_alex": _local_reason("lpips_alex", "alexnet", embedded_backbone_in="lpips_alex"),
        "dists": _local_reason("dists", "vgg16", embedded_backbone_in="dists"),
    }
    out["fid"] = out["patch_fid"] = _local_reason("inception")
    out["clip_score"] = out["clip_image_similarity"] = _clip_reason()
    return out


def _clip_reason() -> str | None:
    if importlib.util.find_spec("transformers") is None:
        return "CLIP metrics need transformers: pip install 'picd[diffusion]'"
    source, origin = _clip_source(None)
    if _looks_like_path(source):
        if (Path(source).expanduser() / "config.json").is_file():
            return None
        return str(_clip_unavailable(source, f"is not a model folder (from {origin})"))
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source, "config.json")
    except Exception:  # noqa: BLE001 - an invalid id or a missing hub library: not cached
        cached = None
    if isinstance(cached, str):
        return None
    return str(_clip_unavailable(source, "is not in the local Hugging Face cache"))
