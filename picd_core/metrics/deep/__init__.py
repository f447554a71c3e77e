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

Modules, one job each: ``weights`` (where weight files come from), ``backbones`` (VGG16/AlexNet features),
``lpips_metric``, ``dists_metric``, ``fid_metric``, ``clip_metric`` and ``availability``; ``common`` holds the image
conversion and model cache they share. Import from this package: the names in ``__all__`` are its public API.
"""

from __future__ import annotations

from .weights import (ALEXNET_URL, CLIP_DEFAULT_MODEL, DISTS_URL, FID_INCEPTION_URL, LPIPS_ALEX_URL, LPIPS_VGG_URL,
    MetricUnavailableError, VGG16_URL)
from .backbones import AlexNetFeatures, VGG16Features
from .common import _MODEL_CACHE
from .lpips_metric import LPIPS, load_lpips, lpips
from .dists_metric import DISTS, dists, l2_pool, load_dists
from .fid_metric import (FeatureExtractor, InceptionV3FID, extract_patches, feature_statistics, fid,
    frechet_distance, image_features, load_fid_inception, patch_fid)
from .clip_metric import (CLIP_MEAN, CLIP_STD, ClipModel, clip_image_embeddings, clip_image_similarity,
    clip_preprocess, clip_score, clip_text_embeddings, load_clip)
from .availability import available_deep_metrics

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
