"""Weight-free full-reference perceptual image metrics in torch: GMSD, VIFp and HaarPSI.

All three take a reference ``x`` and a distorted ``y`` as float tensors of shape ``[B, 3, H, W]`` (RGB) or
``[B, 1, H, W]`` (grey) with values in ``[0, 1]``, and return one score per image as a tensor of shape ``[B]``
in the input's dtype. Internally they compute in float64 (so flat screen-content regions, where variances
cancel, are not swamped by float32 rounding), and they are differentiable with respect to both inputs.

Each follows its paper and the authors' reference MATLAB code, whose ``conv2(..., 'same')`` (zero padding,
for even kernels one more sample after the centre than before) and ``filter2(..., 'valid')`` conventions are
reproduced exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InvalidInputError

__all__ = ["GMSD_MIN_SIZE", "HAARPSI_MIN_SIZE", "VIF_MIN_SIZE", "gmsd", "haarpsi", "vif_p"]

#: Smallest height/width each metric accepts (see the functions' docstrings for why).
GMSD_MIN_SIZE = 5
VIF_MIN_SIZE = 41
HAARPSI_MIN_SIZE = 15

# Variance floor of the VIF reference code (vifp_mscale.m).
_VIF_TINY = 1e-10

# BT.601 / NTSC YIQ, as in the GMSD and HaarPSI reference code.
_YIQ = (
    (0.299, 0.587, 0.114),
    (0.596, -0.274, -0.322),
    (0.211, -0.523, 0.312),
)


# ----------------------------------------------------------------------------------------------- helpers


def _check_pair(x: torch.Tensor, y: torch.Tensor, name: str, min_size: int) -> None:
    for label, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise InvalidInputError(f"{name}: {label} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise InvalidInputError(f"{name}: {label} must be a float tensor in [0, 1], got dtype {t.dtype} "
                                    "(convert uint8 images with .float() / 255)")
        if t.dim() != 4 or t.shape[1] not in (1, 3):
            raise InvalidInputError(f"{name}: {label} must have shape [B, 3, H, W] or [B, 1, H, W], "
                                    f"got {tuple(t.shape)}")
    if x.shape != y.shape:
        raise InvalidInputError(f"{name}: images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.device != y.device:
        raise InvalidInputError(f"{name}: images are on different devices: {x.device} vs {y.device}")
    h, w = x.shape[-2:]
    if h < min_size or w < min_size:
        raise InvalidInputError(f"{name} needs images of at least {min_size}x{min_size} pixels, got {h}x{w}")
    if x.shape[0] == 0:
        raise InvalidInputError(f"{name}: empty batch")
    for label, t in (("x", x), ("y", y)):
        with torch.no_grad():
            lo, hi = torch.aminmax(t.detach())
            ok = bool(torch.isfinite(lo) & torch.isfinite(hi) & (lo >= 0) & (hi <= 1))
        if not ok:
            raise InvalidInputError(f"{name}: {label} must hold finite values in [0, 1], got range "
                                    f"[{float(lo):.4g}, {float(hi):.4g}] (clamp, or divide 8-bit data by 255)")


def _yiq(x: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] RGB -> [B,3,H,W] YIQ (same scale)."""
    m = torch.tensor(_YIQ, dtype=x.dtype, device=x.device)
    return torch.einsum("oc,bchw->bohw", m, x)


def _luma(x: torch.Tensor) -> torch.Tensor:
    """Y of YIQ for RGB input, the channel itself for grey input; [B,1,H,W]."""
    if x.shape[1] == 1:
        return x
    return _yiq(x)[:, :1]


def _corr_sep(x: torch.Tensor, kv: torch.Tensor, kh: torch.Tensor) -> torch.Tensor:
    """Separable 2-D correlation of every channel of x (no padding): vertical taps kv, horizontal taps kh."""
    b, c, h, w = x.shape
    x = x.reshape(b * c, 1, h, w)
    x = F.conv2d(x, kv.to(x).view(1, 1, -1, 1))
    x = F.conv2d(x, kh.to(x).view(1, 1, 1, -1))
    return x.reshape(b, c, x.shape[-2], x.shape[-1])


def _conv2_same(x: torch.Tensor, kv: torch.Tensor, kh: torch.Tensor) -> torch.Tensor:
    """MATLAB ``conv2(x, kv(:) * kh(:)', 'same')``: true convolution, zero padding, output the input's size.

    For a kernel of length m the window spans (m-1)//2 samples before the centre and m//2 after.
    """
    mv, mh = kv.numel(), kh.numel()
    x = F.pad(x, ((mh - 1) // 2, mh // 2, (mv - 1) // 2, mv // 2))
    return _corr_sep(x, kv.flip(0), kh.flip(0))


def _safe_sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt(v) for v >= 0 whose gradient at v == 0 is 0 instead of NaN (flat regions, identical images)."""
    pos = v > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, v, torch.ones_like(v))), torch.zeros_like(v))


def _half(x: torch.Tensor) -> torch.Tensor:
    """2x downsampling of the reference codes: ``conv2(x, ones(2)/4, 'same')`` then keep ``(1:2:end, 1:2:end)``.

    That is a non-overlapping 2x2 mean starting at the top-left pixel; odd sizes are zero-padded at the
    bottom/right (the last row/column then averages with zeros, as in MATLAB).
    """
    h, w = x.shape[-2:]
    x = F.pad(x, (0, w % 2, 0, h % 2))
    return F.avg_pool2d(x, kernel_size=2, stride=2)


# ----------------------------------------------------------------------------------------------- GMSD


def gmsd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient Magnitude Similarity Deviation (lower is better; 0 for identical images).

    Xue, Zhang, Mou & Bovik, "Gradient Magnitude Similarity Deviation: A Highly Efficient Perceptual Image
    Quality Index", IEEE TIP 23(2), 2014. Following the paper and its reference code:

    1. luminance Y = 0.299 R + 0.587 G + 0.114 B (Y of YIQ / BT.601; grey input is used as is);
    2. 2x downsampling by a non-overlapping 2x2 mean (MATLAB ``conv2(ones(2)/4,'same')`` + ``1:2:end``);
    3. gradient magnitudes m = sqrt((h_x * Y)^2 + (h_y * Y)^2) with the Prewitt filters
       h_x = [1 0 -1; 1 0 -1; 1 0 -1] / 3 and h_y = h_x^T (zero padding, same size);
    4. gradient magnitude similarity GMS = (2 m_x m_y + c) / (m_x^2 + m_y^2 + c), c = 170 / 255^2
       (the paper's T = 170 for [0, 255] data, rescaled to [0, 1] data);
    5. GMSD = standard deviation of the GMS map, sqrt(mean((GMS - mean(GMS))^2)) (the paper's 1/N formula).

    Args:
        x: reference image(s), float ``[B, 3, H, W]`` or ``[B, 1, H, W]`` with values in [0, 1].
        y: distorted image(s), same shape.

    Returns:
        ``[B]`` tensor of GMSD scores (input dtype).

    Raises:
        InvalidInputError: shapes differ, values outside [0, 1], or H or W below 5 (``GMSD_MIN_SIZE``: the
        half-resolution image must hold at least one full 3x3 Prewitt window).
    """
    _check_pair(x, y, "gmsd", GMSD_MIN_SIZE)
    out_dtype = x.dtype
    c = 170.0 / 255.0**2
    ones = torch.ones(3, dtype=torch.float64, device=x.device) / 3.0
    diff = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64, device=x.device)

    def grad_mag(img: torch.Tensor) -> torch.Tensor:
        lum = _half(_luma(img.double()))
        gx = _conv2_same(lum, ones, diff)  # horizontal Prewitt
        gy = _conv2_same(lum, diff, ones)  # vertical Prewitt
        return _safe_sqrt(gx * gx + gy * gy)

    mx, my = grad_mag(x), grad_mag(y)
    gms = (2.0 * mx * my + c) / (mx * mx + my * my + c)
    dev = gms - gms.mean(dim=(1, 2, 3), keepdim=True)
    return _safe_sqrt((dev * dev).mean(dim=(1, 2, 3))).to(out_dtype)


# ----------------------------------------------------------------------------------------------- VIFp


def _gauss1d(n: int, sigma: float, device: torch.device) -> torch.Tensor:
    r = torch.arange(n, dtype=torch.float64, device=device) - (n - 1) / 2.0
    g = torch.exp(-(r * r) / (2.0 * sigma * sigma))
    return g / g.sum()  # the normalised 2-D MATLAB fspecial('gaussian') window is the outer product of this


def vif_p(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pixel-domain Visual Information Fidelity, VIFp (higher is better; 1 for identical images).

    Sheikh & Bovik, "Image Information and Visual Quality", IEEE TIP 15(2), 2006, in the multi-scale
    pixel-domain form of the authors' reference implementation (``vifp_mscale``):

    - computed on luminance Y = 0.299 R + 0.587 G + 0.114 B scaled to [0, 255] (grey input used as is);
    - 4 scales s = 1..4 with Gaussian windows of size N = 2^(5-s) + 1 (17, 9, 5, 3) and sigma = N / 5;
      before scales 2..4 both images are filtered with that scale's window ('valid') and decimated by 2;
    - local statistics mu, sigma^2, sigma_xy by 'valid' Gaussian filtering; per pixel the GSM/channel model
      g = sigma_xy / sigma_x^2, sigma_v^2 = sigma_y^2 - g sigma_xy (with the reference code's guards for
      sigma^2 < 1e-10 and g < 0, and sigma_v^2 >= 1e-10), HVS noise sigma_n^2 = 2;
    - VIFp = sum over scales and pixels of log10(1 + g^2 sigma_x^2 / (sigma_v^2 + sigma_n^2)) divided by
      the sum of log10(1 + sigma_x^2 / sigma_n^2).

    A completely flat reference carries no information (both sums are 0); the score is then defined as 1.

    Args:
        x: reference image(s), float ``[B, 3, H, W]`` or ``[B, 1, H, W]`` with values in [0, 1].
        y: distorted image(s), same shape.

    Returns:
        ``[B]`` tensor of VIFp scores (input dtype).

    Raises:
        InvalidInputError: shapes differ, values outside [0, 1], or H or W below 41 (``VIF_MIN_SIZE``: the
        smallest size for which all four 'valid'-filtered scales are non-empty).
    """
    _check_pair(x, y, "vif_p", VIF_MIN_SIZE)
    out_dtype = x.dtype
    sigma_nsq = 2.0
    tiny = _VIF_TINY
    ref = _luma(x.double()) * 255.0
    dist = _luma(y.double()) * 255.0
    num = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    den = torch.zeros_like(num)
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        g1 = _gauss1d(n, n / 5.0, x.device)
        if scale > 1:
            ref = _corr_sep(ref, g1, g1)[..., ::2, ::2]
            dist = _corr_sep(dist, g1, g1)[..., ::2, ::2]
        mu1 = _corr_sep(ref, g1, g1)
        mu2 = _corr_sep(dist, g1, g1)
        s1 = torch.clamp(_corr_sep(ref * ref, g1, g1) - mu1 * mu1, min=0.0)
        s2 = torch.clamp(_corr_sep(dist * dist, g1, g1) - mu2 * mu2, min=0.0)
        s12 = _corr_sep(ref * dist, g1, g1) - mu1 * mu2

        g = s12 / (s1 + tiny)
        sv = s2 - g * s12
        flat1 = s1 < tiny
        g = torch.where(flat1, torch.zeros_like(g), g)
        sv = torch.where(flat1, s2, sv)
        s1 = torch.where(flat1, torch.zeros_like(s1), s1)
        flat2 = s2 < tiny
        g = torch.where(flat2, torch.zeros_like(g), g)
        sv = torch.where(flat2, torch.zeros_like(sv), sv)
        neg = g < 0
        sv = torch.where(neg, s2, sv)
        g = torch.where(neg, torch.zeros_like(g), g)
        sv = torch.clamp(sv, min=tiny)

        num = num + torch.log10(1.0 + g * g * s1 / (sv + sigma_nsq)).sum(dim=(1, 2, 3))
        den = den + torch.log10(1.0 + s1 / sigma_nsq).sum(dim=(1, 2, 3))
    has_info = den > 0
    score = torch.where(has_info, num / torch.where(has_info, den, torch.ones_like(den)), torch.ones_like(num))
    return score.to(out_dtype)


# ----------------------------------------------------------------------------------------------- HaarPSI


def _haar_abs(lum: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """|Haar wavelet coefficients| at one scale (k = 1, 2, 3) of a [B,1,H,W] image, via MATLAB conv2 'same'.

    The 2^k x 2^k filter is 2^-k * ones with its first half of rows negated (first orientation) and its
    transpose (second orientation); it is separable as (step filter) x (box filter).
    """
    m = 2**scale
    box = torch.ones(m, dtype=lum.dtype, device=lum.device)
    step = torch.cat([-box[: m // 2], box[m // 2:]]) * 2.0**-scale
    first = _conv2_same(lum, step, box).abs()   # rows differ: vertical detail
    second = _conv2_same(lum, box, step).abs()  # columns differ: horizontal detail
    return first, second


def haarpsi(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Haar wavelet-based Perceptual Similarity Index, HaarPSI (higher is better; 1 for identical images).

    Reisenhofer, Bosse, Kutyniok & Wiegand, "A Haar wavelet-based perceptual similarity index for image
    quality assessment", Signal Processing: Image Communication 61, 2018, with the published parameters
    C = 30 and alpha = 4.2 (for data on the [0, 255] scale; the inputs are rescaled accordingly) and the
    reference code's preprocessing:

    - RGB input is converted to YIQ (grey input: Y only) and every channel is 2x downsampled by a
      non-overlapping 2x2 mean;
    - the Y channel is decomposed with 2-D Haar filters at scales k = 1, 2, 3 (size 2^k, MATLAB conv2
      'same'), in two orientations; local similarity per orientation
      HS = 1/2 sum_{k=1,2} S(|g_k x|, |g_k y|) with S(a, b) = (2ab + C) / (a^2 + b^2 + C),
      weight W = max(|g_3 x|, |g_3 y|);
    - for colour input a third map is the mean of S over |2x2 mean| of the I and Q channels, weighted by the
      mean of the two orientation weights;
    - HaarPSI = (l_alpha^-1( sum W l_alpha(HS) / sum W ))^2 with the logistic l_alpha(t) = 1/(1 + e^(-alpha t))
      and its inverse l_alpha^-1(u) = log(u / (1 - u)) / alpha.

    Two all-black images have no weight anywhere; their score is defined as 1.

    Args:
        x: reference image(s), float ``[B, 3, H, W]`` or ``[B, 1, H, W]`` with values in [0, 1].
        y: distorted image(s), same shape.

    Returns:
        ``[B]`` tensor of HaarPSI scores (input dtype).

    Raises:
        InvalidInputError: shapes differ, values outside [0, 1], or H or W below 15 (``HAARPSI_MIN_SIZE``:
        the half-resolution image must hold one full 8x8 coarsest-scale Haar window).
    """
    _check_pair(x, y, "haarpsi", HAARPSI_MIN_SIZE)
    out_dtype = x.dtype
    c, alpha = 30.0, 4.2
    colour = x.shape[1] == 3

    def prep(img: torch.Tensor) -> torch.Tensor:
        img = img.double() * 255.0
        return _half(_yiq(img) if colour else img)

    px, py = prep(x), prep(y)

    def sim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (2.0 * a * b + c) / (a * a + b * b + c)

    cx = [_haar_abs(px[:, :1], k) for k in (1, 2, 3)]
    cy = [_haar_abs(py[:, :1], k) for k in (1, 2, 3)]
    sims, weights = [], []
    for ori in (0, 1):
        weights.append(torch.maximum(cx[2][ori], cy[2][ori]))
        sims.append((sim(cx[0][ori], cy[0][ori]) + sim(cx[1][ori], cy[1][ori])) / 2.0)
    if colour:
        quarter = torch.full((2,), 0.5, dtype=px.dtype, device=px.device)
        iq_x = _conv2_same(px[:, 1:], quarter, quarter).abs()
        iq_y = _conv2_same(py[:, 1:], quarter, quarter).abs()
        s_iq = sim(iq_x, iq_y)
        sims.append((s_iq[:, :1] + s_iq[:, 1:]) / 2.0)
        weights.append((weights[0] + weights[1]) / 2.0)
    hs = torch.cat(sims, dim=1)
    w = torch.cat(weights, dim=1)
    wsum = w.sum(dim=(1, 2, 3))
    has_w = wsum > 0
    mean = (torch.sigmoid(alpha * hs) * w).sum(dim=(1, 2, 3)) / torch.where(has_w, wsum, torch.ones_like(wsum))
    mean = torch.where(has_w, mean, torch.full_like(mean, 1.0 / (1.0 + math.exp(-alpha))))
    score = (torch.log(mean / (1.0 - mean)) / alpha) ** 2
    return score.to(out_dtype)
