"""Deep perceptual metrics (picd_core.metrics.deep) with stand-in networks: random but fixed weights, written to
files and loaded through the real loading code (no pretrained weights exist offline)."""

from __future__ import annotations

import json
import math
import urllib.error
from itertools import pairwise

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from picd_core.errors import PicdError
from picd_core.metrics import deep
from picd_core.metrics.deep import (
    DISTS,
    FeatureExtractor,
    InceptionV3FID,
    MetricUnavailableError,
    VGG16Features,
    available_deep_metrics,
    extract_patches,
    feature_statistics,
    frechet_distance,
)

ENV_VARS = ["PICD_LPIPS_WEIGHTS", "PICD_LPIPS_ALEX_WEIGHTS", "PICD_VGG16_WEIGHTS", "PICD_ALEXNET_WEIGHTS",
            "PICD_DISTS_WEIGHTS", "PICD_INCEPTION_WEIGHTS", "PICD_CLIP_MODEL"]

TORCHVISION_VGG16_FEATURE_KEYS = [
    "features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias",
    "features.5.weight", "features.5.bias", "features.7.weight", "features.7.bias",
    "features.10.weight", "features.10.bias", "features.12.weight", "features.12.bias",
    "features.14.weight", "features.14.bias", "features.17.weight", "features.17.bias",
    "features.19.weight", "features.19.bias", "features.21.weight", "features.21.bias",
    "features.24.weight", "features.24.bias", "features.26.weight", "features.26.bias",
    "features.28.weight", "features.28.bias",
]


@pytest.fixture(autouse=True)
def _offline_and_clean(monkeypatch, tmp_path):
    """No env weights, an empty torch hub cache, no pip-package weights and no network."""
    for v in ENV_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(deep.weights, "_package_file", lambda *a: None)

    def no_network(url, *a, **k):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    deep._MODEL_CACHE.clear()
    yield
    deep._MODEL_CACHE.clear()


# ---------------------------------------------------------------------------------------------- stand-in weights


def _vgg_state(seed=0):
    """A random VGG16 with torchvision's init (kaiming normal, fan_out): activations keep their scale."""
    torch.manual_seed(seed)
    net = VGG16Features()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    return dict(net.state_dict())


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("deep_weights")
    sd = _vgg_state()
    full = dict(sd)
    full["classifier.0.weight"] = torch.zeros(8, 4)  # torchvision's checkpoint also holds the classifier
    full["classifier.0.bias"] = torch.zeros(8)
    torch.save(full, d / "vgg16-397923af.pth")

    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(1)
    lin = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) + 0.1
           for k, c in enumerate(VGG16Features.CHANNELS)}
    save_file(lin, str(d / "lpips_vgg.safetensors"))
    first_only = {f"lin{k}.model.1.weight": (torch.ones if k == 0 else torch.zeros)(1, c, 1, 1)
                  for k, c in enumerate(VGG16Features.CHANNELS)}
    torch.save(first_only, d / "lpips_first_layer.pth")

    n = sum(DISTS.CHANNELS)
    torch.save({"alpha": torch.rand(1, n, 1, 1, generator=g) + 0.05,
                "beta": torch.rand(1, n, 1, 1, generator=g) + 0.05}, d / "dists.pt")
    return d


def _smooth_image(seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 8, 8, generator=g)
    img = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    return (0.2 + 0.6 * img).clamp(0, 1)


def _noisy(img, strength, seed=5):
    g = torch.Generator().manual_seed(seed)
    return (img + strength * torch.randn(img.shape, generator=g)).clamp(0, 1)


# ---------------------------------------------------------------------------------------------- backbones


def test_vgg16_state_dict_keys_are_torchvision_names():
    net = VGG16Features()
    assert list(net.state_dict().keys()) == TORCHVISION_VGG16_FEATURE_KEYS
    assert sum(p.numel() for p in net.parameters()) == 14_714_688  # torchvision vgg16().features
    assert len(net.features) == 31
    alex = deep.AlexNetFeatures()
    assert list(alex.state_dict().keys()) == [f"features.{i}.{w}" for i in (0, 3, 6, 8, 10) for w in ("weight", "bias")]
    assert sum(p.numel() for p in alex.parameters()) == 2_469_696


def test_vgg16_taps_are_relu_outputs_at_the_right_scales():
    net = VGG16Features()
    taps = net.taps(torch.rand(1, 3, 64, 64))
    assert [tuple(t.shape[1:]) for t in taps] == [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8),
                                                   (512, 4, 4)]
    assert all(float(t.detach().min()) >= 0 for t in taps)


# ---------------------------------------------------------------------------------------------- LPIPS


def test_lpips_loads_through_env_and_orders_distortions(weights_dir, monkeypatch):
    monkeypatch.setenv("PICD_LPIPS_WEIGHTS", str(weights_dir / "lpips_vgg.safetensors"))
    monkeypatch.setenv("PICD_VGG16_WEIGHTS", str(weights_dir / "vgg16-397923af.pth"))
    model = deep.load_lpips("vgg")
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    ref_sd = _vgg_state()
    assert torch.equal(model.net.features[28].weight, ref_sd["features.28.weight"])
    keys = set(model.state_dict())
    assert {f"lin{k}.model.1.weight" for k in range(5)} <= keys
    assert {f"net.{k}" for k in TORCHVISION_VGG16_FEATURE_KEYS} <= keys

    x = _smooth_image()
    with torch.no_grad():
        assert float(model(x, x)[0]) == 0.0
        d = [float(model(x, _noisy(x, s))[0]) for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert all(a < b for a, b in pairwise(d)), d
    assert d[0] > 0
    # The convenience function (uint8 HxWx3 input) agrees with the module.
    a = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert deep.lpips(a, a) == 0.0
    b = (_noisy(x, 0.2)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    ref = float(model(torch.from_numpy(a).permute(2, 0, 1)[None] / 255.0,
                      torch.from_numpy(b).permute(2, 0, 1)[None] / 255.0)[0])
    assert deep.lpips(a, b) == pytest.approx(ref, rel=1e-5)


def test_lpips_first_layer_matches_manual_formula(weights_dir):
    """lin0 = 1, other lins = 0: LPIPS = mean over pixels of ‖n(f(x)) − n(f(y))‖² with f = relu1_2 of the scaled input."""
    model = deep.load_lpips("vgg", weights=weights_dir / "lpips_first_layer.pth",
                            backbone_weights=weights_dir / "vgg16-397923af.pth")
    sd = _vgg_state()
    x, y = _smooth_image(1), _noisy(_smooth_image(1), 0.1)

    def relu1_2(img):
        shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
        scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
        h = ((2 * img - 1) - shift) / scale
        h = F.relu(F.conv2d(h, sd["features.0.weight"], sd["features.0.bias"], padding=1))
        return F.relu(F.conv2d(h, sd["features.2.weight"], sd["features.2.bias"], padding=1))

    def unit(f):
        return f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)

    expected = float((unit(relu1_2(x)) - unit(relu1_2(y))).pow(2).sum(1).mean())
    with torch.no_grad():
        got = float(model(x, y)[0])
    assert got == pytest.approx(expected, rel=1e-4)


def test_lpips_full_state_dict_carries_its_own_backbone(weights_dir, tmp_path):
    """A full lpips.LPIPS state dict (net.sliceK.N.* + lin*) needs no separate VGG file."""
    sd = {k: v for k, v in torch.load(weights_dir / "lpips_first_layer.pth").items()}
    slices = {0: 1, 2: 1, 5: 2, 7: 2, 10: 3, 12: 3, 14: 3, 17: 4, 19: 4, 21: 4, 24: 5, 26: 5, 28: 5}
    for k, v in _vgg_state(seed=3).items():
        i = int(k.split(".")[1])
        sd[f"net.slice{slices[i]}.{i}.{k.split('.')[2]}"] = v
    torch.save(sd, tmp_path / "lpips_full.pth")
    model = deep.load_lpips("vgg", weights=tmp_path / "lpips_full.pth", download=False)
    assert torch.equal(model.net.features[24].weight, _vgg_state(seed=3)["features.24.weight"])


def test_lpips_alex_runs(tmp_path):
    torch.manual_seed(0)
    alex = deep.AlexNetFeatures()
    torch.save(alex.state_dict(), tmp_path / "alex.pth")
    lin = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(deep.AlexNetFeatures.CHANNELS)}
    torch.save(lin, tmp_path / "lin.pth")
    model = deep.load_lpips("alex", weights=tmp_path / "lin.pth", backbone_weights=tmp_path / "alex.pth")
    x = _smooth_image(size=96)
    with torch.no_grad():
        assert float(model(x, x)[0]) == 0.0
        assert float(model(x, _noisy(x, 0.3))[0]) > 0


# ---------------------------------------------------------------------------------------------- DISTS


def test_l2_pooling_is_hann_weighted_rms():
    x = torch.full((1, 2, 8, 8), 3.0)
    y = deep.l2_pool(x)
    assert y.shape == (1, 2, 4, 4)
    assert torch.allclose(y[..., 1:, 1:], torch.full_like(y[..., 1:, 1:], 3.0), atol=1e-5)
    # top-left output sees padding: sqrt(sum of the in-image filter taps · 9) = 3 · sqrt(9/16)
    assert float(y[0, 0, 0, 0]) == pytest.approx(3.0 * math.sqrt(9 / 16), rel=1e-5)


def test_dists_identity_ordering_and_keys(weights_dir, monkeypatch):
    monkeypatch.setenv("PICD_DISTS_WEIGHTS", str(weights_dir / "dists.pt"))
    monkeypatch.setenv("PICD_VGG16_WEIGHTS", str(weights_dir / "vgg16-397923af.pth"))
    model = deep.load_dists()
    assert {"alpha", "beta"} <= set(model.state_dict())
    assert model.alpha.shape == (1, 1475, 1, 1)
    stages = model.stages(torch.rand(1, 3, 64, 64))
    assert [tuple(s.shape[1:]) for s in stages] == [(3, 64, 64), (64, 64, 64), (128, 32, 32), (256, 16, 16),
                                                     (512, 8, 8), (512, 4, 4)]
    x = _smooth_image(2)
    with torch.no_grad():
        assert abs(float(model(x, x)[0])) < 1e-5
        d = [float(model(x, _noisy(x, s))[0]) for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert all(a < b for a, b in pairwise(d)), d
    assert d[0] > 1e-4
    assert deep.dists(x, _noisy(x, 0.1)) == pytest.approx(d[2], rel=1e-5)


def test_dists_image_stage_matches_manual_formula(weights_dir, tmp_path):
    """Only the 3 raw-image channels weighted: DISTS = 1 − Σ (α S1 + β S2)/Σ(α+β) on pixel statistics."""
    n = sum(DISTS.CHANNELS)
    alpha, beta = torch.zeros(1, n, 1, 1), torch.zeros(1, n, 1, 1)
    alpha[0, :3, 0, 0] = torch.tensor([1.0, 2.0, 3.0])
    beta[0, :3, 0, 0] = torch.tensor([0.5, 0.25, 4.0])
    torch.save({"alpha": alpha, "beta": beta}, tmp_path / "d.pt")
    model = deep.load_dists(weights=tmp_path / "d.pt", backbone_weights=weights_dir / "vgg16-397923af.pth")
    x = _smooth_image(3)
    y = (0.8 * x + 0.1 + 0.05 * torch.sin(torch.arange(64.0)).view(1, 1, 1, 64)).clamp(0, 1)
    xs, ys = x[0].double().flatten(1), y[0].double().flatten(1)
    mx, my = xs.mean(1), ys.mean(1)
    vx, vy = xs.var(1, unbiased=False), ys.var(1, unbiased=False)
    cov = (xs * ys).mean(1) - mx * my
    s1 = (2 * mx * my + 1e-6) / (mx**2 + my**2 + 1e-6)
    s2 = (2 * cov + 1e-6) / (vx + vy + 1e-6)
    a, b = alpha[0, :3, 0, 0].double(), beta[0, :3, 0, 0].double()
    expected = 1 - float(((a * s1).sum() + (b * s2).sum()) / (a.sum() + b.sum()))
    with torch.no_grad():
        assert float(model(x, y)[0]) == pytest.approx(expected, rel=1e-4)


# ---------------------------------------------------------------------------------------------- missing weights


def _one_line(err: Exception) -> str:
    msg = str(err)
    assert "\n" not in msg
    return msg


def test_missing_weights_give_one_line_errors_naming_the_env_var(weights_dir, monkeypatch, tmp_path):
    with pytest.raises(MetricUnavailableError) as e:
        deep.load_lpips(download=False)
    msg = _one_line(e.value)
    assert "PICD_LPIPS_WEIGHTS" in msg and "vgg.pth" in msg and deep.LPIPS_VGG_URL in msg
    assert isinstance(e.value, PicdError)

    with pytest.raises(MetricUnavailableError) as e:  # download attempted, network off
        deep.load_lpips()
    msg = _one_line(e.value)
    assert "download failed" in msg and "PICD_LPIPS_WEIGHTS" in msg

    monkeypatch.setenv("PICD_LPIPS_WEIGHTS", str(weights_dir / "lpips_vgg.safetensors"))
    with pytest.raises(MetricUnavailableError) as e:  # linear layers found, backbone not
        deep.load_lpips()
    assert "PICD_VGG16_WEIGHTS" in _one_line(e.value) and "vgg16-397923af.pth" in str(e.value)

    monkeypatch.setenv("PICD_DISTS_WEIGHTS", str(tmp_path / "nope.pt"))
    with pytest.raises(MetricUnavailableError, match="PICD_DISTS_WEIGHTS") as e:
        deep.load_dists()
    assert "nope.pt" in _one_line(e.value)

    with pytest.raises(MetricUnavailableError, match="PICD_INCEPTION_WEIGHTS") as e:
        deep.load_fid_inception(download=False)
    assert "pt_inception-2015-12-05-6726825d.pth" in _one_line(e.value)

    with pytest.raises(MetricUnavailableError, match="PICD_LPIPS_ALEX_WEIGHTS"):
        deep.lpips(np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8), net="alex")

    torch.save({"something": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(MetricUnavailableError, match="wrong layout") as e:
        deep.load_fid_inception(tmp_path / "wrong.pth")
    _one_line(e.value)


def test_hub_cache_is_used(weights_dir, tmp_path):
    ckpt = tmp_path / "torch_home" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "vgg16-397923af.pth").write_bytes((weights_dir / "vgg16-397923af.pth").read_bytes())
    model = deep.load_lpips(weights=weights_dir / "lpips_vgg.safetensors", download=False)
    assert torch.equal(model.net.features[0].weight, _vgg_state()["features.0.weight"])


def test_available_deep_metrics(weights_dir, monkeypatch, tmp_path):
    status = available_deep_metrics()
    assert set(status) >= {"lpips_vgg", "lpips_alex", "dists", "fid", "patch_fid", "clip_score",
                           "clip_image_similarity"}
    assert all(isinstance(v, str) and "\n" not in v for k, v in status.items() if k != "clip_score" or v)
    assert "PICD_LPIPS_WEIGHTS" in status["lpips_vgg"] and "PICD_INCEPTION_WEIGHTS" in status["fid"]
    monkeypatch.setenv("PICD_LPIPS_WEIGHTS", str(weights_dir / "lpips_vgg.safetensors"))
    assert "PICD_VGG16_WEIGHTS" in available_deep_metrics()["lpips_vgg"]
    monkeypatch.setenv("PICD_VGG16_WEIGHTS", str(weights_dir / "vgg16-397923af.pth"))
    monkeypatch.setenv("PICD_DISTS_WEIGHTS", str(weights_dir / "dists.pt"))
    monkeypatch.setenv("PICD_CLIP_MODEL", str(tmp_path / "no_clip_here"))
    status = available_deep_metrics()
    assert status["lpips_vgg"] is None and status["dists"] is None
    assert status["fid"] is not None and "PICD_CLIP_MODEL" in status["clip_score"]


# ---------------------------------------------------------------------------------------------- FID


def _spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.5 * np.eye(d)


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)  # diagonal covariances
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)

    s = _spd(rng, 6)  # Σ2 = c²Σ1 → (Σ1Σ2)^½ = cΣ1
    m1, m2 = rng.standard_normal(6), rng.standard_normal(6)
    c = 1.7
    expected = np.sum((m1 - m2) ** 2) + (1 - c) ** 2 * np.trace(s)
    assert frechet_distance(m1, s, m2, c * c * s) == pytest.approx(expected, rel=1e-9)

    s1, s2 = _spd(rng, 8), _spd(rng, 8)  # general: tr (Σ1Σ2)^½ = tr (Σ1^½ Σ2 Σ1^½)^½
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(w)) @ v.T
    tr_cross = np.sum(np.sqrt(np.linalg.eigvalsh(r1 @ s2 @ r1)))
    expected = np.trace(s1) + np.trace(s2) - 2 * tr_cross
    assert frechet_distance(np.zeros(8), s1, np.zeros(8), s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(m1, s, m1, s) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_singular_covariance_and_statistics():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((5, 12))  # 5 samples in 12-d: rank-deficient covariance
    mu, sigma = feature_statistics(f)
    assert np.allclose(mu, f.mean(0)) and np.allclose(sigma, np.cov(f, rowvar=False))
    d = frechet_distance(mu, sigma, mu, sigma)
    assert math.isfinite(d) and abs(d) < 1e-3
    with pytest.raises(PicdError):
        feature_statistics(f[:1])


def test_patch_extraction_counts():
    img = np.zeros((512, 600, 3), np.uint8)  # H=512, W=600: 2·2 tiles + 1·1 shifted
    assert extract_patches(img).shape == (5, 3, 256, 256)
    assert extract_patches(np.zeros((600, 512, 3), np.uint8)).shape == (5, 3, 256, 256)
    assert extract_patches(img, shifted=False).shape == (4, 3, 256, 256)
    assert extract_patches(np.zeros((768, 1024, 3), np.uint8)).shape == (3 * 4 + 2 * 3, 3, 256, 256)
    assert extract_patches(np.zeros((200, 300, 3), np.uint8)).shape == (0, 3, 256, 256)
    ramp = np.zeros((512, 600, 3), np.uint8)
    ramp[..., 0] = (np.arange(600) % 256)[None, :]
    ramp[..., 1] = (np.arange(512) % 256)[:, None]
    p = extract_patches(ramp)
    assert torch.equal(p[1], torch.from_numpy(ramp[:256, 256:512]).permute(2, 0, 1).float() / 255)
    assert torch.equal(p[4], torch.from_numpy(ramp[128:384, 128:384]).permute(2, 0, 1).float() / 255)


class _TinyExtractor(torch.nn.Module):
    dim = 6

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 6, 3, stride=2)

    def forward(self, x):  # local-energy features: noise raises them
        return 30 * F.adaptive_avg_pool2d(self.conv(x) ** 2, 1).flatten(1)


def _photo_like(seed, h=512, w=768):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, h // 32, w // 32, generator=g)
    img = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def test_patch_fid_and_fid_with_a_stand_in_extractor():
    ex = _TinyExtractor().eval()
    assert isinstance(ex, FeatureExtractor)
    refs = [_photo_like(s) for s in range(4)]  # 4 · (2·3 + 1·2) = 32 patches
    noisy = [np.clip(r.astype(np.int16) + np.random.default_rng(9).integers(-60, 60, r.shape), 0, 255)
             .astype(np.uint8) for r in refs]
    same = deep.patch_fid(refs, refs, extractor=ex)
    assert abs(same) < 1e-6
    diff = deep.patch_fid(refs, noisy, extractor=ex)
    f_ref = deep.image_features(torch.cat([extract_patches(r) for r in refs]), ex)
    f_noisy = deep.image_features(torch.cat([extract_patches(r) for r in noisy]), ex)
    assert f_ref.shape == (32, 6)
    mean_term = float(np.sum((f_ref.mean(0) - f_noisy.mean(0)) ** 2))
    assert diff > 0.01 and diff >= mean_term - 1e-9  # the covariance term of FD is never negative
    assert abs(deep.fid(refs, refs, extractor=ex)) < 1e-6
    # stacked tensor input gives the same features as the list of arrays
    t = torch.stack([torch.from_numpy(r).permute(2, 0, 1).float() / 255 for r in refs])
    assert np.allclose(deep.image_features(t, ex), deep.image_features(refs, ex))
    with pytest.raises(PicdError):
        deep.patch_fid([refs[0][:100, :100]], [refs[0][:100, :100]], extractor=ex)


def test_fid_inception_definition_and_loading(tmp_path, monkeypatch):
    model = InceptionV3FID()
    assert sum(p.numel() for p in model.parameters()) == 23_850_960  # torchvision Inception3 − aux, 1008 classes
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(sd) == 94 * 5 + 2  # 94 conv+BN units (conv, bn weight/bias/mean/var) and the fc
    shapes = {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
              "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7), "Mixed_7a.branch3x3_2.conv.weight":
              (320, 192, 3, 3), "Mixed_7c.branch3x3dbl_3b.bn.running_var": (384,), "fc.weight": (1008, 2048)}
    for k, s in shapes.items():
        assert tuple(sd[k].shape) == s, k
    torch.save(sd, tmp_path / "pt_inception.pth")  # without num_batches_tracked, as older checkpoints
    monkeypatch.setenv("PICD_INCEPTION_WEIGHTS", str(tmp_path / "pt_inception.pth"))
    loaded = deep.load_fid_inception()
    assert isinstance(loaded, FeatureExtractor) and loaded.dim == 2048
    assert torch.equal(loaded.Mixed_7c.branch_pool.conv.weight, sd["Mixed_7c.branch_pool.conv.weight"])
    with torch.no_grad():
        f = loaded(torch.rand(1, 3, 80, 64))
    assert f.shape == (1, 2048) and torch.isfinite(f).all()


# ---------------------------------------------------------------------------------------------- CLIP


def _bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    d = tmp_path_factory.mktemp("tiny_clip")
    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(str(d))
    cfg = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 77,
                     "bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"],
                     "pad_token_id": vocab["<|endoftext|>"]},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16)
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(str(d))
    assert json.loads((d / "config.json").read_text())["vision_config"]["image_size"] == 32
    return d


def _rand_images(seed, sizes):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def test_clip_preprocess_matches_clip_conventions():
    img = np.full((50, 80, 3), 128, np.uint8)
    x = deep.clip_preprocess([img], 32)
    assert x.shape == (1, 3, 32, 32)
    mean, std = torch.tensor(deep.CLIP_MEAN).view(3, 1, 1), torch.tensor(deep.CLIP_STD).view(3, 1, 1)
    assert torch.allclose(x[0], (128 / 255 - mean) / std, atol=1e-5)
    half = np.zeros((20, 40, 3), np.uint8)
    half[:, 20:] = 255  # short side 20 → 32: 64 wide, centre crop keeps columns 16..47 → left black, right white
    y = deep.clip_preprocess(half, 32)[0] * std + mean
    assert float(y[:, :, :10].max()) < 0.05 and float(y[:, :, -10:].min()) > 0.95


def test_clip_score_range_formula_and_image_similarity(tiny_clip, monkeypatch):
    cm = deep.load_clip(tiny_clip)
    assert cm.image_size == 32
    images = _rand_images(0, [(40, 50), (64, 64), (30, 80), (33, 33)])
    captions = ["a photo of a cat", "a screenshot with text", "PICD", "a long caption " * 40]  # last > 77 tokens
    scores = deep.clip_score(images, captions, model=cm)
    assert scores.shape == (4,) and np.all((scores >= 0) & (scores <= 100))

    # independent path: CLIPModel.forward's logits_per_image = exp(logit_scale) · cos
    enc = cm.tokenizer(captions, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        out = cm.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                       pixel_values=deep.clip_preprocess(images, 32))
    cos = torch.diagonal(out.logits_per_image).double() / cm.model.logit_scale.exp().double()
    assert np.allclose(scores, 100 * np.maximum(cos.numpy(), 0), atol=1e-4)
    assert np.allclose(deep.clip_score(images, captions, model=cm, w=2.5), 0.025 * scores, atol=1e-6)

    monkeypatch.setenv("PICD_CLIP_MODEL", str(tiny_clip))  # the env var is honoured
    assert np.allclose(deep.clip_score(images[:1], captions[0]), scores[:1], atol=1e-5)
    assert available_deep_metrics()["clip_score"] is None

    sim_self = deep.clip_image_similarity(images, images, model=cm)
    assert np.allclose(sim_self, 1.0, atol=1e-5)
    sim = deep.clip_image_similarity(images, images[::-1], model=cm)
    assert sim.shape == (4,) and np.all(np.abs(sim) <= 1 + 1e-6)
    with pytest.raises(PicdError):
        deep.clip_score(images, captions[:2], model=cm)


def test_clip_missing_model_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("PICD_CLIP_MODEL", str(tmp_path / "absent"))
    with pytest.raises(MetricUnavailableError, match="PICD_CLIP_MODEL") as e:
        deep.load_clip()
    _one_line(e.value)
    with pytest.raises(MetricUnavailableError, match="PICD_CLIP_MODEL") as e:
        deep.load_clip("picd-test/not-a-real-clip-model", download=False)
    _one_line(e.value)


def test_picd_eval_reports_lpips_and_dists_with_given_weights(weights_dir, tmp_path):
    """`picd eval --deep` loads the metrics through the same env vars a user sets (stand-in weights here)."""
    import json
    import os
    import subprocess
    import sys

    from picd_core.data import generate_screen
    from picd_core.images import save_image

    (tmp_path / "imgs").mkdir()
    save_image(generate_screen(4, 480, 320).image[:128, :192].copy(), tmp_path / "imgs" / "a.png")
    env = dict(os.environ, PICD_VGG16_WEIGHTS=str(weights_dir / "vgg16-397923af.pth"),
               PICD_LPIPS_WEIGHTS=str(weights_dir / "lpips_vgg.safetensors"),
               PICD_DISTS_WEIGHTS=str(weights_dir / "dists.pt"))
    out = subprocess.run([sys.executable, "-m", "picd_core.cli", "eval", "--data", str(tmp_path / "imgs"), "--codec",
                          "webp", "--quality", "5", "80", "--mode", "natural", "--judge", "none", "--deep", "lpips",
                          "dists", "-o", str(tmp_path / "r.json")], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert results["lpips"][0] > results["lpips"][1] > 0  # lower quality, larger distance
    assert results["dists"][0] > results["dists"][1] > 0
