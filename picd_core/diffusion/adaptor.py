"""The PICD adaptor: glyph + decoded-image conditions → SFT modulation of every ResNet block of an SD UNet.

Streams (PICD_SPEC §5.3): a ControlNet-style hint encoder on the glyph Z̄ (no VAE: the VAE damages thin text), a second
hint encoder on the decoded image X̄, the VAE latent of X̄ and a pixel-unshuffle of X̄ (every pixel survives at latent
resolution). They are concatenated, projected and run through a StableSR-style time-aware encoder that emits one feature
map per UNet resolution level. Each UNet ResNet block output h is modulated as h·(1+γ(f)) + β(f) (SFT), with γ, β from
zero-initialised convolutions, so an untrained adaptor leaves the backbone exactly unchanged.

The adaptor is backbone-agnostic: it only needs the UNet's ResNet blocks in forward order ("slots") with their channel
counts and resolution levels, which SD 1.x, 2.x and SDXL UNets share in diffusers and in ComfyUI alike.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError, RenderUnavailableError

FORMAT = "picd-adaptor"


def unet_slots(block_out_channels: list[int], layers_per_block: int | list[int], mid_resnets: int = 2) -> list[list[int]]:
    """[channels, level] of every ResNet block of an SD-style UNet, in forward order (down, mid, up)."""
    levels = len(block_out_channels)
    per_level = [layers_per_block] * levels if isinstance(layers_per_block, int) else list(layers_per_block)
    if len(per_level) != levels:
        raise InvalidInputError("layers_per_block must have one entry per resolution level")
    slots = [[ch, i] for i, ch in enumerate(block_out_channels) for _ in range(per_level[i])]
    slots += [[block_out_channels[-1], levels - 1]] * mid_resnets
    for i in reversed(range(levels)):
        slots += [[block_out_channels[i], i]] * (per_level[i] + 1)
    return slots


@dataclass
class AdaptorConfig:
    """Everything needed to rebuild the adaptor; stored as JSON in the safetensors metadata."""

    slots: list[list[int]]  # [channels, level] per UNet ResNet block, forward order (see unet_slots)
    encoder_channels: list[int] = field(default_factory=lambda: [256, 256, 512, 512])  # one per UNet level
    hint_channels: list[int] = field(default_factory=lambda: [16, 32, 96])
    hint_out: int = 256
    latent_channels: int = 4
    downscale: int = 8  # pixels per latent pixel (the VAE factor)
    res_blocks: int = 2
    sft_hidden: int = 128
    use_glyph: bool = True
    use_vae_latent: bool = True
    time_embed_dim: int = 512

    def __post_init__(self) -> None:
        levels = 1 + max(level for _, level in self.slots)
        if len(self.encoder_channels) != levels:
            raise InvalidInputError(f"encoder_channels needs {levels} entries (one per UNet level), "
                                    f"got {len(self.encoder_channels)}")
        if self.downscale & (self.downscale - 1):
            raise InvalidInputError("downscale must be a power of two")

    @classmethod
    def for_unet(cls, block_out_channels: list[int], layers_per_block: int | list[int], **kw) -> "AdaptorConfig":
        """A config sized like StableSR's encoder for an SD UNet (override any field with keyword arguments)."""
        levels = len(block_out_channels)
        kw.setdefault("encoder_channels", [256 if i < 2 else 512 for i in range(levels)])
        return cls(slots=unet_slots(list(block_out_channels), layers_per_block), **kw)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AdaptorConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise InvalidInputError(f"adaptor config has unknown fields {sorted(unknown)} (newer PICD version?)")
        return cls(**d)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (float) timesteps in [0, 1000), as in the SD UNet."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, channels), channels)


class HintEncoder(nn.Module):
    """ControlNet-style condition embedding: a small conv net from pixels down to latent resolution."""

    def __init__(self, cin: int, channels: list[int], cout: int, downscale: int):
        super().__init__()
        steps = int(math.log2(downscale))
        layers: list[nn.Module] = [nn.Conv2d(cin, channels[0], 3, padding=1), nn.SiLU()]
        width = channels[0]
        for i in range(steps):
            nxt = channels[min(i + 1, len(channels) - 1)]
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.SiLU(), nn.Conv2d(width, nxt, 3, padding=1, stride=2),
                       nn.SiLU()]
            width = nxt
        layers.append(nn.Conv2d(width, cout, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TimeResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = _group_norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2, self.conv2 = _group_norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.emb(F.silu(emb))[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class TimeAwareEncoder(nn.Module):
    """StableSR-style half UNet conditioned on the timestep; one output feature map per resolution level."""

    def __init__(self, cin: int, channels: list[int], res_blocks: int, emb_dim: int):
        super().__init__()
        self.emb_dim = emb_dim
        self.time_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv2d(cin, channels[0], 3, padding=1)
        self.levels = nn.ModuleList()
        self.downs = nn.ModuleList()
        width = channels[0]
        for i, ch in enumerate(channels):
            blocks = []
            for _ in range(res_blocks):
                blocks.append(TimeResBlock(width, ch, emb_dim))
                width = ch
            self.levels.append(nn.ModuleList(blocks))
            self.downs.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1) if i < len(channels) - 1 else nn.Identity())

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> list[torch.Tensor]:
        emb = self.time_mlp(timestep_embedding(timesteps, self.emb_dim).to(x.dtype))
        h, feats = self.conv_in(x), []
        for blocks, down in zip(self.levels, self.downs):
            for block in blocks:
                h = block(h, emb)
            feats.append(h)
            h = down(h)
        return feats


class SFT(nn.Module):
    """Spatial feature transform h·(1+γ) + β with γ, β predicted from a feature map; identity at initialisation."""

    def __init__(self, feature_channels: int, channels: int, hidden: int):
        super().__init__()
        self.shared = nn.Sequential(nn.Conv2d(feature_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma_beta = nn.Conv2d(hidden, 2 * channels, 3, padding=1)
        nn.init.zeros_(self.gamma_beta.weight)
        nn.init.zeros_(self.gamma_beta.bias)

    def forward(self, h: torch.Tensor, feature: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        if feature.shape[-2:] != h.shape[-2:]:
            feature = F.interpolate(feature, size=h.shape[-2:], mode="bilinear", align_corners=False)
        if feature.shape[0] != h.shape[0]:  # cond/uncond batching: conditions are shared by every batch entry
            feature = feature.repeat(h.shape[0] // feature.shape[0], 1, 1, 1)
        weight_dtype = self.gamma_beta.weight.dtype  # the backbone may run in fp16 while the adaptor stays fp32
        gamma, beta = self.gamma_beta(self.shared(feature.to(weight_dtype))).to(h.dtype).chunk(2, dim=1)
        return h * (1 + strength * gamma) + strength * beta


class PicdAdaptor(nn.Module):
    """Conditions → per-level features (features()) → SFT on UNet ResNet outputs (modulate())."""

    def __init__(self, config: AdaptorConfig):
        super().__init__()
        self.config = c = config
        self.hint_image = HintEncoder(3, c.hint_channels, c.hint_out, c.downscale)
        self.hint_glyph = HintEncoder(1, c.hint_channels, c.hint_out, c.downscale) if c.use_glyph else None
        cin = c.hint_out * (2 if c.use_glyph else 1) + 3 * c.downscale**2 + (c.latent_channels if c.use_vae_latent else 0)
        self.project = nn.Conv2d(cin, c.encoder_channels[0], 1)
        self.encoder = TimeAwareEncoder(c.encoder_channels[0], c.encoder_channels, c.res_blocks, c.time_embed_dim)
        self.sft = nn.ModuleList(SFT(c.encoder_channels[level], ch, c.sft_hidden) for ch, level in c.slots)

    @property
    def num_slots(self) -> int:
        return len(self.config.slots)

    def check_slots(self, slot_channels: list[int]) -> None:
        """Raise a clear error when a UNet's ResNet blocks do not match the ones this adaptor was built for."""
        expected = [ch for ch, _ in self.config.slots]
        if list(slot_channels) != expected:
            raise InvalidInputError(
                f"this adaptor was trained for a UNet with {len(expected)} ResNet blocks of channels {expected[:6]}…; "
                f"the model has {len(slot_channels)} blocks of channels {list(slot_channels)[:6]}… — load the SD "
                "checkpoint family the adaptor was trained on (e.g. SD 1.x/2.x vs SDXL)")

    def features(self, image_layer: torch.Tensor, timesteps: torch.Tensor, glyph: torch.Tensor | None = None,
                 latent: torch.Tensor | None = None) -> list[torch.Tensor]:
        """image_layer X̄ [B,3,H,W] in [0,1]; glyph [B,1,H,W] in [0,1] (white paper) or None; latent: the scaled VAE
        latent of X̄ [B,C,H/8,W/8] (required when the config uses it); timesteps: [B] discrete (0…999)."""
        c = self.config
        dtype = self.project.weight.dtype
        image_layer = image_layer.to(dtype)
        glyph = None if glyph is None else glyph.to(dtype)
        latent = None if latent is None else latent.to(dtype)
        if image_layer.shape[-1] % c.downscale or image_layer.shape[-2] % c.downscale:
            raise InvalidInputError(f"image size must be a multiple of {c.downscale} for the adaptor")
        x = image_layer * 2 - 1
        streams = [self.hint_image(x)]
        if self.hint_glyph is not None:
            ink = (1 - glyph) if glyph is not None else image_layer.new_zeros(x.shape[0], 1, *x.shape[2:])
            streams.append(self.hint_glyph(ink.to(x.dtype)))
        if c.use_vae_latent:
            if latent is None:
                raise InvalidInputError("this adaptor needs the VAE latent of the decoded image (connect a VAE)")
            streams.append(latent.to(x.dtype))
        streams.append(F.pixel_unshuffle(x, c.downscale))
        h = self.project(torch.cat(streams, dim=1))
        timesteps = timesteps.reshape(-1).to(x.device)
        if timesteps.numel() == 1 and h.shape[0] > 1:
            timesteps = timesteps.expand(h.shape[0])
        if timesteps.numel() != h.shape[0]:  # one condition image shared by a batch (e.g. cond + uncond)
            if timesteps.numel() % h.shape[0]:
                raise InvalidInputError(f"batch of {timesteps.numel()} latents for {h.shape[0]} condition images")
            h = h.repeat(timesteps.numel() // h.shape[0], 1, 1, 1)
        return self.encoder(h, timesteps)

    def modulate(self, slot: int, h: torch.Tensor, features: list[torch.Tensor], strength: float = 1.0) -> torch.Tensor:
        return self.sft[slot](h, features[self.config.slots[slot][1]], strength)

    # ------------------------------------------------------------------ persistence (config + safetensors)
    def save_pretrained(self, path: str | Path, extra_metadata: dict | None = None) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        metadata = {"format": FORMAT, "config": json.dumps(self.config.to_dict())}
        metadata.update({k: json.dumps(v) for k, v in (extra_metadata or {}).items()})
        path = Path(path)
        tmp = path.with_name(path.name + ".partial")
        save_file(state, str(tmp), metadata=metadata)
        tmp.replace(path)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> "PicdAdaptor":
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise RenderUnavailableError(f"adaptor file not found: {path}")
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
        except (SafetensorError, OSError) as err:  # what safetensors raises for a file that is not one of its own
            raise RenderUnavailableError(f"{path.name} is not a safetensors file ({err})") from err
        if metadata.get("format") != FORMAT:
            raise RenderUnavailableError(f"{path.name} is not a PICD adaptor (format {metadata.get('format')!r}); "
                                         "pick a file written by `picd train-adaptor`")
        adaptor = cls(AdaptorConfig.from_dict(json.loads(metadata["config"])))
        state = load_file(str(path))
        missing, unexpected = adaptor.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise RenderUnavailableError(f"{path.name} does not match its config (missing {missing[:3]}, "
                                         f"unexpected {unexpected[:3]})")
        return adaptor.to(device).eval().requires_grad_(False)
