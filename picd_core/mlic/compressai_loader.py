"""Import the parts of CompressAI the codec needs (entropy models, ops, rANS) without its package __init__.

`import compressai` imports every subpackage, which needs torchvision, torch_geometric and pandas: a ComfyUI host has
torchvision but rarely the others, and installing them through compressai's metadata downgrades numpy. The entropy
models need only torch, numpy, scipy and CompressAI's two C++ extensions. So when CompressAI is not imported already,
its submodules are loaded under a temporary package entry that is removed afterwards; a later plain
`import compressai` (by another node pack) then runs the real __init__ and reuses the same submodules.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

from ..errors import CodecUnavailableError

INSTALL_HINT = "install it with: pip install --no-deps compressai==1.2.8 (plus scipy); see INSTALL_NOTES.md"


@dataclass(frozen=True)
class CompressAIParts:
    EntropyBottleneck: type
    GaussianConditional: type
    LowerBound: type
    BufferedRansEncoder: type
    RansDecoder: type
    version: str
    package_stub: types.ModuleType

    def entropy_bottleneck(self, channels: int) -> Any:
        with _package_entry(self.package_stub):
            return self.EntropyBottleneck(channels, entropy_coder="ans")

    def gaussian_conditional(self) -> Any:
        with _package_entry(self.package_stub):
            return self.GaussianConditional(None, entropy_coder="ans")


@contextlib.contextmanager
def _package_entry(stub: types.ModuleType) -> Iterator[None]:
    """CompressAI's entropy models look up `compressai.ans` and the coder list at construction time."""
    if "compressai" in sys.modules:
        yield
        return
    sys.modules["compressai"] = stub
    try:
        yield
    finally:
        if sys.modules.get("compressai") is stub:
            del sys.modules["compressai"]


@lru_cache(maxsize=1)
def load_compressai() -> CompressAIParts:
    try:
        import torch  # noqa: F401
        import scipy.stats  # noqa: F401
    except ImportError as exc:
        raise CodecUnavailableError(f"the learned codec needs torch and scipy ({exc.name} is missing)") from None
    spec = importlib.util.find_spec("compressai")
    if spec is None or not spec.submodule_search_locations:
        raise CodecUnavailableError(f"CompressAI is not installed; {INSTALL_HINT}")
    stub = types.ModuleType("compressai")
    stub.__path__ = list(spec.submodule_search_locations)
    stub.__spec__ = spec
    stub.__file__ = spec.origin
    stub.get_entropy_coder = lambda: "ans"
    stub.available_entropy_coders = lambda: ["ans"]
    try:
        with _package_entry(stub):
            entropy_models = importlib.import_module("compressai.entropy_models.entropy_models")
            ops = importlib.import_module("compressai.ops")
            ans = importlib.import_module("compressai.ans")
            stub.ans = ans
            try:
                version = importlib.import_module("compressai.version").__version__
            except ImportError:
                version = "unknown"
    except ImportError as exc:
        raise CodecUnavailableError(f"CompressAI could not be imported ({exc}); {INSTALL_HINT}") from None
    return CompressAIParts(
        EntropyBottleneck=entropy_models.EntropyBottleneck,
        GaussianConditional=entropy_models.GaussianConditional,
        LowerBound=ops.LowerBound,
        BufferedRansEncoder=ans.BufferedRansEncoder,
        RansDecoder=ans.RansDecoder,
        version=version,
        package_stub=stub,
    )


def compressai_unavailable_reason() -> str | None:
    try:
        load_compressai()
    except CodecUnavailableError as exc:
        return str(exc)
    return None
