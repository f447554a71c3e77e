"""The entropy-coding parts the learned codec uses, under the interface it had when they came from CompressAI.

They are our own code now (picd_core/mlic/entropy_coding.py), writing the same bitstream, so the pack no longer installs
CompressAI (whose metadata conflicts with ComfyUI hosts: INSTALL_NOTES.md). Kept so model.py and codec.py need no change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import CodecUnavailableError


@dataclass(frozen=True)
class EntropyParts:
    EntropyBottleneck: type
    GaussianConditional: type
    LowerBound: type
    BufferedRansEncoder: type
    RansDecoder: type
    version: str

    def entropy_bottleneck(self, channels: int) -> Any:
        return self.EntropyBottleneck(channels)

    def gaussian_conditional(self) -> Any:
        return self.GaussianConditional(None)


@lru_cache(maxsize=1)
def load_compressai() -> EntropyParts:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise CodecUnavailableError("the learned codec needs torch: pip install 'picd[codec]'") from None
    from . import entropy_coding as ec

    return EntropyParts(ec.EntropyBottleneck, ec.GaussianConditional, ec.LowerBound, ec.BufferedRansEncoder,
                        ec.RansDecoder, version="picd-rans64-1")


def compressai_unavailable_reason() -> str | None:
    try:
        load_compressai()
    except CodecUnavailableError as exc:
        return str(exc)
    return None
