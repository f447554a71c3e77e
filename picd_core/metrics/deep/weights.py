"""Where deep-metric weights come from: argument, env var, pip-package file, torch hub cache, download."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import InvalidInputError, PicdError


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
