"""GlyphELIC: a CPU-sized ELIC-style learned codec conditioned on the glyph image (PICD_SPEC §4).

What it is, honestly: ELIC's entropy model (He et al., CVPR 2022: uneven channel slices + a checkerboard spatial
context + a hyperprior) with GDN transforms and glyph conditioning. It has none of MLIC's global or cross-slice
attention contexts, so it is not an MLIC model; CompressAI's own `mlic` is a different network. The *codec* keeps
the name "mlic" because that name is written into every .picd file (and weights files keep the "picd-mlic" format
tag), so old files and weights still decode.

Contract as in CompressAI: forward(x, glyph, rate) -> x_hat + likelihoods; compress -> strings + shape;
decompress(strings, shape, glyph, rate) -> x_hat; update() builds the entropy coder's tables.

- Transforms: 4 stride-2 convolutions with GDN (analysis) / inverse GDN (synthesis), total stride 16; hyperprior with
  stride 4 more (64 in all).
- Entropy model, multi-reference: channel-wise slices (each slice conditioned on all earlier ones) and a checkerboard
  local context inside each slice (anchors first, then non-anchors conditioned on decoded anchors), plus the hyperprior.
- Glyph conditioning: a bias-free glyph encoder feeds the analysis and synthesis transforms through zero-initialised
  1×1 projections, and a second bias-free path feeds the entropy parameters. The glyph enters as ink = 1 − glyph/255, so
  an empty glyph is exactly zero and the model is then an unconditional natural-image codec.
- Variable rate: one gain vector per rate level scales the latent (Cui et al. gain units); each level is trained at its own λ.
- Determinism: everything that picks a CDF at the decoder (hyper synthesis, contexts, entropy parameters, the entropy
  glyph path) runs in float64 on the CPU on both sides, the CDF tables are shipped with the weights (never rebuilt by a
  decoder), and a CRC-32 of the decoded symbols detects any desynchronisation. The decoder's synthesis runs with exact
  sums (exact_synthesis.py), so the decoded pixels do not depend on the thread count either.
"""

from __future__ import annotations

import copy
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import BitstreamError
from .compressai_loader import load_compressai
from .exact_synthesis import ExactSynthesis

SCALES_MIN, SCALES_MAX, SCALES_LEVELS = 0.11, 256.0, 64


def scale_table() -> list[float]:
    return np.exp(np.linspace(np.log(SCALES_MIN), np.log(SCALES_MAX), SCALES_LEVELS)).tolist()


@dataclass
class ElicConfig:
    channels: int = 96  # N: transform width
    latent_channels: int = 160  # M
    slices: tuple[int, ...] = (16, 16, 32, 48, 48)
    glyph_channels: int = 32
    entropy_hidden: int = 128
    context_channels: int = 64
    # One λ per rate level (loss = λ·255²·MSE + bpp); rate level 1 is the lowest rate.
    lambdas: tuple[float, ...] = (0.0004, 0.0009, 0.002, 0.0045, 0.01, 0.022)
    version: int = 1
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.slices = tuple(int(s) for s in self.slices)
        self.lambdas = tuple(float(v) for v in self.lambdas)
        if sum(self.slices) != self.latent_channels:
            raise ValueError(f"slices {self.slices} must add up to latent_channels {self.latent_channels}")

    @classmethod
    def preset(cls, name: str) -> "ElicConfig":
        """default: CPU-sized; large: MLIC++-sized transforms for GPU training; tiny: tests."""
        presets = {
            "default": {},
            "large": dict(channels=192, latent_channels=320, slices=(16, 16, 32, 64, 192), glyph_channels=64,
                          entropy_hidden=320, context_channels=128),
            "tiny": dict(channels=16, latent_channels=32, slices=(8, 8, 16), glyph_channels=8, entropy_hidden=16,
                         context_channels=8),
        }
        if name not in presets:
            raise ValueError(f"unknown model size {name!r}; choose one of {', '.join(presets)}")
        return cls(**presets[name])

    @property
    def num_rates(self) -> int:
        return len(self.lambdas)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["slices"], d["lambdas"] = list(self.slices), list(self.lambdas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ElicConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def conv(cin: int, cout: int, k: int = 5, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2, output_padding=stride - 1)


def zero_conv(cin: int, cout: int) -> nn.Conv2d:
    layer = nn.Conv2d(cin, cout, 1, bias=False)
    nn.init.zeros_(layer.weight)
    return layer


class GDN(nn.Module):
    """Generalised divisive normalisation (Ballé et al.), inverse=True for the synthesis side."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        lower_bound = load_compressai().LowerBound
        self.inverse = inverse
        self.pedestal = 2.0**-36
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self.pedestal))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + self.pedestal))
        self.beta_bound = lower_bound((beta_min + self.pedestal) ** 0.5)
        self.gamma_bound = lower_bound(self.pedestal**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_bound(self.beta) ** 2 - self.pedestal
        gamma = self.gamma_bound(self.gamma) ** 2 - self.pedestal
        norm = F.conv2d(x * x, gamma[:, :, None, None].to(x.dtype), beta.to(x.dtype))
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


class GlyphEncoder(nn.Module):
    """Bias-free, so an all-zero ink map gives all-zero features at strides 2, 4, 8, 16."""

    def __init__(self, channels: int):
        super().__init__()
        self.stages = nn.ModuleList(
            [conv(1, channels, 3, 2, bias=False)] + [conv(channels, channels, 3, 2, bias=False) for _ in range(3)]
        )

    def forward(self, ink: torch.Tensor) -> list[torch.Tensor]:
        feats, h = [], ink
        for i, stage in enumerate(self.stages):
            h = stage(h if i == 0 else F.gelu(h))
            feats.append(h)
        return feats


class EntropyGlyphPath(nn.Module):
    """Glyph features for the entropy parameters at stride 16 (cheap: starts from a 4× average-pooled ink map)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv(1, channels // 2, 3, 2, bias=False)
        self.conv2 = conv(channels // 2, channels, 3, 2, bias=False)

    def forward(self, ink: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.gelu(self.conv1(F.avg_pool2d(ink, 4))))


class EntropyParameters(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(cin, hidden, 1), nn.GELU(), nn.Conv2d(hidden, hidden, 1), nn.GELU(),
                                 nn.Conv2d(hidden, 2 * cout, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        means, scales = self.net(x).chunk(2, dim=1)
        return means, scales


class EntropyContext(nn.Module):
    """Everything that turns (hyper features, decoded slices, glyph) into Gaussian parameters: the part that runs
    in float64 on the CPU during real coding."""

    def __init__(self, cfg: ElicConfig):
        super().__init__()
        n, m = cfg.channels, cfg.latent_channels
        self.hyper_synthesis = nn.Sequential(
            deconv(n, n), nn.GELU(), deconv(n, n * 3 // 2), nn.GELU(), conv(n * 3 // 2, 2 * m, 3)
        )
        self.glyph = EntropyGlyphPath(cfg.glyph_channels)
        self.slices = cfg.slices
        self.channel_context = nn.ModuleList()
        self.local_context = nn.ModuleList()
        self.parameters_net = nn.ModuleList()
        done = 0
        for i, c in enumerate(cfg.slices):
            self.channel_context.append(
                nn.Sequential(conv(done, cfg.context_channels, 3), nn.GELU(), conv(cfg.context_channels, cfg.context_channels, 3))
                if i else nn.Identity()
            )
            self.local_context.append(conv(c, 2 * c, 5))
            cin = 2 * m + (cfg.context_channels if i else 0) + 2 * c + cfg.glyph_channels
            self.parameters_net.append(EntropyParameters(cin, cfg.entropy_hidden, c))
            done += c

    def slice_inputs(self, hyper: torch.Tensor, decoded: list[torch.Tensor]) -> list:
        """Inputs shared by a slice's anchor and non-anchor passes: hyper features and the channel context."""
        i = len(decoded)
        parts = [hyper]
        if i:
            parts.append(self.channel_context[i](torch.cat(decoded, dim=1)))
        return parts

    def params(self, i: int, base: list[torch.Tensor], local: torch.Tensor, glyph_feat: torch.Tensor):
        return self.parameters_net[i](torch.cat(base + [local, glyph_feat], dim=1))


def initial_gains(levels: int) -> torch.Tensor:
    """Log-spaced latent gains from 0.25 (level 1, lowest rate) to 2.0 (highest level)."""
    if levels == 1:
        return torch.ones(1)
    return torch.exp(torch.linspace(float(np.log(0.25)), float(np.log(2.0)), levels))


def checkerboard(height: int, width: int, device=None) -> torch.Tensor:
    """True at anchor positions ((row + col) even)."""
    rows = torch.arange(height, device=device)[:, None]
    cols = torch.arange(width, device=device)[None, :]
    return (rows + cols) % 2 == 0


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return (torch.round(x) - x).detach() + x


class GlyphELIC(nn.Module):
    def __init__(self, cfg: ElicConfig | None = None):
        super().__init__()
        cfg = cfg or ElicConfig()
        self.cfg = cfg
        n, m, g = cfg.channels, cfg.latent_channels, cfg.glyph_channels
        parts = load_compressai()
        self.analysis = nn.ModuleList([conv(3, n, 5, 2), conv(n, n, 5, 2), conv(n, n, 5, 2), conv(n, m, 5, 2)])
        self.analysis_gdn = nn.ModuleList([GDN(n), GDN(n), GDN(n)])
        self.synthesis = nn.ModuleList([deconv(m, n), deconv(n, n), deconv(n, n), deconv(n, 3)])
        self.synthesis_gdn = nn.ModuleList([GDN(n, inverse=True) for _ in range(3)])
        self.glyph_encoder = GlyphEncoder(g)
        self.glyph_to_analysis = nn.ModuleList([zero_conv(g, n), zero_conv(g, n), zero_conv(g, n), zero_conv(g, m)])
        self.glyph_to_synthesis = nn.ModuleList([zero_conv(g, n), zero_conv(g, n), zero_conv(g, n)])
        self.hyper_analysis = nn.Sequential(conv(m, n, 3), nn.GELU(), conv(n, n, 5, 2), nn.GELU(), conv(n, n, 5, 2))
        self.entropy = EntropyContext(cfg)
        # Rate levels start apart (coarser quantisation at low levels) so each level's λ shapes its own gains.
        spread = initial_gains(cfg.num_rates)
        self.gain = nn.Parameter(spread[:, None].repeat(1, m))
        self.inverse_gain = nn.Parameter((1.0 / spread)[:, None].repeat(1, m))
        self.entropy_bottleneck = parts.entropy_bottleneck(n)
        self.gaussian_conditional = parts.gaussian_conditional()
        self._reset_entropy_cache()

    def _reset_entropy_cache(self) -> None:
        # Float64 CPU copies of the entropy path and of the synthesis for real coding; kept out of the module tree
        # (and the state dict).
        object.__setattr__(self, "_entropy64", None)
        object.__setattr__(self, "_synthesis64", None)

    # ------------------------------------------------------------------ transforms
    @staticmethod
    def ink(glyph: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """glyph: [B,1,H,W] in [0,1] (1 = paper white) or None -> ink map (0 where no text)."""
        if glyph is None:
            return like.new_zeros(like.shape[0], 1, like.shape[2], like.shape[3])
        return 1.0 - glyph.to(like.device, like.dtype)

    def _gain(self, rate: int | torch.Tensor, inverse: bool = False) -> torch.Tensor:
        table = self.inverse_gain if inverse else self.gain
        return table.abs()[rate][..., None, None] if isinstance(rate, int) else table.abs()[rate][:, :, None, None]

    def analyse(self, x: torch.Tensor, ink: torch.Tensor, rate) -> torch.Tensor:
        feats = self.glyph_encoder(ink)
        h = x
        for i, layer in enumerate(self.analysis):
            h = layer(h) + self.glyph_to_analysis[i](feats[i])
            if i < 3:
                h = self.analysis_gdn[i](h)
        return h * self._gain(rate)

    def synthesise(self, y_hat: torch.Tensor, ink: torch.Tensor, rate) -> torch.Tensor:
        feats = self.glyph_encoder(ink)
        h = y_hat * self._gain(rate, inverse=True)
        for i, layer in enumerate(self.synthesis):
            h = layer(h)
            if i < 3:
                h = self.synthesis_gdn[i](h) + self.glyph_to_synthesis[i](feats[2 - i])
        return h

    # ------------------------------------------------------------------ training forward
    def forward(self, x: torch.Tensor, glyph: torch.Tensor | None, rate: torch.Tensor) -> dict:
        """x in [0,1], [B,3,H,W] with H, W multiples of 64; rate: LongTensor [B] of rate indices (0-based)."""
        ink = self.ink(glyph, x)
        y = self.analyse(x, ink, rate)
        z = self.hyper_analysis(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        hyper = self.entropy.hyper_synthesis(z_hat)
        glyph_feat = self.entropy.glyph(ink)
        anchor = checkerboard(y.shape[2], y.shape[3], y.device)
        decoded, likelihoods, start = [], [], 0
        for i, c in enumerate(self.cfg.slices):
            y_i = y[:, start : start + c]
            base = self.entropy.slice_inputs(hyper, decoded)
            means_a, scales_a = self.entropy.params(i, base, y_i.new_zeros(y_i.shape[0], 2 * c, *y_i.shape[2:]), glyph_feat)
            anchors_hat = torch.where(anchor, ste_round(y_i - means_a) + means_a, torch.zeros_like(y_i))
            local = self.entropy.local_context[i](anchors_hat)
            means_n, scales_n = self.entropy.params(i, base, local, glyph_feat)
            means = torch.where(anchor, means_a, means_n)
            scales = torch.where(anchor, scales_a, scales_n)
            _, lik = self.gaussian_conditional(y_i, scales, means)
            likelihoods.append(lik)
            decoded.append(ste_round(y_i - means) + means)
            start += c
        y_hat = torch.cat(decoded, dim=1)
        x_hat = self.synthesise(y_hat, ink, rate)
        return {"x_hat": x_hat, "likelihoods": {"y": torch.cat(likelihoods, dim=1), "z": z_likelihoods}}

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_bottleneck.loss()

    # ------------------------------------------------------------------ real coding
    def update(self, force: bool = True) -> None:
        """Build the CDF tables (done once when exporting weights; they are stored with them)."""
        self.gaussian_conditional.update_scale_table(scale_table(), force=force)
        self.entropy_bottleneck.update(force=force)
        self._reset_entropy_cache()

    def _entropy_path(self) -> EntropyContext:
        if self._entropy64 is None:
            object.__setattr__(self, "_entropy64", copy.deepcopy(self.entropy).to(device="cpu", dtype=torch.float64).eval())
        return self._entropy64

    def _synthesis_path(self) -> ExactSynthesis:
        if self._synthesis64 is None:
            object.__setattr__(self, "_synthesis64", ExactSynthesis(self))
        return self._synthesis64

    def _tables(self):
        gc = self.gaussian_conditional
        if gc._quantized_cdf.numel() == 0 or self.entropy_bottleneck._quantized_cdf.numel() == 0:
            raise RuntimeError("entropy tables are missing: call update() (or load weights that include them)")
        return gc._quantized_cdf.tolist(), gc._cdf_length.reshape(-1).tolist(), gc._offset.reshape(-1).tolist()

    def _indexes(self, scales: torch.Tensor) -> torch.Tensor:
        table = self.gaussian_conditional.scale_table.to(torch.float64)
        scales = scales.clamp_min(float(self.gaussian_conditional.scale_bound))
        return torch.bucketize(scales, table[:-1], right=False).to(torch.int32)

    @torch.no_grad()
    def compress(self, x: torch.Tensor, glyph: torch.Tensor | None, rate: int) -> dict:
        """x: [1,3,H,W] in [0,1] (H, W multiples of 64), on any device. Returns strings, shape and a symbol CRC."""
        parts = load_compressai()
        ink = self.ink(glyph, x)
        y = self.analyse(x, ink, rate)
        z = self.hyper_analysis(y)
        z_cpu = z.detach().to("cpu", torch.float32)
        z_string = self.entropy_bottleneck.compress(z_cpu)[0]
        z_hat = self.entropy_bottleneck.decompress([z_string], z_cpu.shape[-2:])
        y64 = y.detach().to("cpu", torch.float64)
        ink64 = ink.detach().to("cpu", torch.float64)
        encoder = parts.BufferedRansEncoder()
        crc = self._code_slices(z_hat, ink64, y64, encoder=encoder)
        return {"strings": [z_string, encoder.flush()], "shape": tuple(z_cpu.shape[-2:]), "crc": crc}

    @torch.no_grad()
    def decompress(self, strings: list[bytes], shape: tuple[int, int], glyph: torch.Tensor | None, rate: int,
                   crc: int | None = None, crc_out: list[int] | None = None) -> torch.Tensor:
        """Inverse of compress: x_hat in [0,1], float64 on the CPU, the same for every thread count. With crc, a
        symbol-checksum mismatch raises; crc_out receives the checksum."""
        parts = load_compressai()
        z_hat = self.entropy_bottleneck.decompress([strings[0]], shape)
        height, width = shape[0] * 64, shape[1] * 64
        ref = torch.zeros(1, 1, height, width, dtype=torch.float64)
        ink64 = self.ink(glyph.to("cpu") if glyph is not None else None, ref)
        decoder = parts.RansDecoder()
        decoder.set_stream(strings[1])
        y_hat, got_crc = self._code_slices(z_hat, ink64, None, decoder=decoder)
        if crc_out is not None:
            crc_out.append(got_crc)
        if crc is not None and got_crc != crc:
            raise BitstreamError(
                "entropy decoding desynchronised (symbol checksum mismatch): this machine computes the entropy "
                "parameters differently from the encoder's, or the weights differ"
            )
        # Not self.synthesise: its float32 sums come out differently with other thread counts (exact_synthesis.py).
        return self._synthesis_path()(y_hat, ink64, rate).clamp(0, 1)

    def _code_slices(self, z_hat, ink64, y64, encoder=None, decoder=None):
        """Shared by encoder and decoder so both walk the same float64 path in the same order."""
        entropy = self._entropy_path()
        cdf, cdf_lengths, offsets = self._tables()
        hyper = entropy.hyper_synthesis(z_hat.to(torch.float64))
        glyph_feat = entropy.glyph(ink64)
        height, width = hyper.shape[2], hyper.shape[3]
        anchor = checkerboard(height, width)
        crc = 0
        decoded, start = [], 0
        for i, c in enumerate(self.cfg.slices):
            base = entropy.slice_inputs(hyper, decoded)
            y_hat_i = torch.zeros(1, c, height, width, dtype=torch.float64)
            local = torch.zeros(1, 2 * c, height, width, dtype=torch.float64)
            for phase, mask in enumerate((anchor, ~anchor)):
                if phase == 1:
                    local = entropy.local_context[i](torch.where(anchor, y_hat_i, torch.zeros_like(y_hat_i)))
                means, scales = entropy.params(i, base, local, glyph_feat)
                means_sel = means[0][:, mask]  # [c, positions] in raster order
                indexes = self._indexes(scales[0][:, mask]).reshape(-1).tolist()
                if encoder is not None:
                    symbols = torch.round(y64[0, start : start + c][:, mask] - means_sel).to(torch.int32)
                    encoder.encode_with_indexes(symbols.reshape(-1).tolist(), indexes, cdf, cdf_lengths, offsets)
                else:
                    values = decoder.decode_stream(indexes, cdf, cdf_lengths, offsets)
                    symbols = torch.tensor(values, dtype=torch.int32).reshape(c, -1)
                crc = zlib.crc32(symbols.numpy().astype("<i4").tobytes(), crc)
                y_hat_i[0][:, mask] = symbols.to(torch.float64) + means_sel
            decoded.append(y_hat_i)
            start += c
        if encoder is not None:
            return crc
        return torch.cat(decoded, dim=1), crc


class DifferentiableRoundTrip(nn.Module):
    """decode(encode(x)) approximated by the training forward (rounding with straight-through gradients).

    Implements image_codecs.DifferentiableCodec for re-compression guidance; quality is the codec's rate level (1..K).
    """

    def __init__(self, model: GlyphELIC):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, glyph: torch.Tensor | None, quality: int) -> torch.Tensor:
        rate = torch.full((image.shape[0],), quality - 1, dtype=torch.long, device=image.device)
        if glyph is not None:
            glyph = glyph.to(image.device, image.dtype).expand(image.shape[0], -1, -1, -1)
        return self.model(image, glyph, rate)["x_hat"]
