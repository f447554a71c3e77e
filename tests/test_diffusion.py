"""Diffusion rendering on tiny SD-architecture models built from configs (random weights, CPU, offline)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from picd_core.data import generate_screen  # noqa: E402
from picd_core.diffusion.adaptor import AdaptorConfig, PicdAdaptor, unet_slots  # noqa: E402
from picd_core.diffusion.diffusers_backend import DiffusersBackbone  # noqa: E402
from picd_core.diffusion.guidance import GuidanceConfig  # noqa: E402
from picd_core.diffusion.prompt import SCREEN_PREFIX, domain_prompt  # noqa: E402
from picd_core.diffusion.render import DiffusionRenderer, RenderConfig, render_diffusion  # noqa: E402
from picd_core.diffusion.sampling import NoiseSchedule, sd_alphas_cumprod  # noqa: E402
from picd_core.diffusion.tiny import build_tiny_sd  # noqa: E402
from picd_core.errors import InvalidInputError, RenderUnavailableError  # noqa: E402
from picd_core.glyph import render_glyph  # noqa: E402
from picd_core.image_codecs import get_codec  # noqa: E402
from picd_core.pipeline import PicdFile, decode_picd, encode_image  # noqa: E402
from picd_core.layout import TextLayout, Word  # noqa: E402


def tiny_adaptor_config(**kw) -> AdaptorConfig:
    return AdaptorConfig.for_unet([32, 64], 1, encoder_channels=[16, 32], hint_channels=[8, 8, 8], hint_out=8,
                                  sft_hidden=8, time_embed_dim=32, **kw)


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    return build_tiny_sd(tmp_path_factory.mktemp("tiny_sd") / "model")


@pytest.fixture(scope="session")
def backbone(tiny_sd):
    return DiffusersBackbone.load(tiny_sd)


@pytest.fixture(scope="session")
def small_screen():
    screen = generate_screen(7, 480, 320, kind="document")
    crop = screen.image[:128, :128].copy()
    words = [w for w in screen.layout.words if w.x + w.w <= 128 and w.y + w.h <= 128]
    layout = TextLayout.from_lines([words])
    return crop, layout, render_glyph(layout, 128, 128)


def test_unet_slots_match_diffusers_resnets(backbone):
    cfg = backbone.unet.config
    assert [ch for ch, _ in unet_slots(list(cfg.block_out_channels), cfg.layers_per_block)] == \
        [r.out_channels for r in backbone.resnets()]
    assert len(unet_slots([320, 640, 1280, 1280], 2)) == 22  # SD 1.x/2.x: 8 down, 2 mid, 12 up
    assert len(unet_slots([320, 640, 1280], 2)) == 17  # SDXL: 6 down, 2 mid, 9 up


def test_noise_schedule_round_trips_timesteps():
    schedule = NoiseSchedule(sd_alphas_cumprod())
    t = torch.tensor([0.0, 10.0, 499.0, 999.0])
    assert torch.allclose(schedule.timestep(schedule.sigmas[t.long()].float()), t, atol=1e-2)
    sigmas = schedule.sigmas_for(10)
    assert len(sigmas) == 11 and sigmas[-1] == 0 and bool((sigmas[:-1] > sigmas[1:]).all())
    partial = schedule.sigmas_for(10, denoise=0.5)
    assert len(partial) == 11 and partial[0] < sigmas[0]


def test_zero_initialised_adaptor_leaves_the_backbone_unchanged(backbone):
    torch.manual_seed(0)
    adaptor = PicdAdaptor(tiny_adaptor_config())
    x_bar = torch.rand(1, 3, 64, 64)
    inputs = {"image_layer": x_bar, "latent": backbone.encode_image(x_bar), "glyph": torch.ones(1, 1, 64, 64)}
    context = backbone.encode_prompt("a screenshot with text: hello")
    x, sigma = torch.randn(1, 4, 8, 8) * 3, torch.tensor([3.0])
    plain = backbone.denoiser(context)(x, sigma)
    with_adaptor = backbone.denoiser(context, adaptor=adaptor, adaptor_inputs=inputs)
    assert torch.equal(with_adaptor(x, sigma), plain)
    with torch.no_grad():
        for sft in adaptor.sft:
            sft.gamma_beta.weight.normal_(0, 0.05)
    assert (with_adaptor(x, sigma) - plain).abs().max() > 1e-3
    with_adaptor.hooks.remove()
    assert torch.equal(backbone.denoiser(context)(x, sigma), plain)  # hooks removed: backbone as before


def test_adaptor_save_load_round_trip_and_bad_files(tmp_path):
    adaptor = PicdAdaptor(tiny_adaptor_config())
    with torch.no_grad():
        adaptor.sft[0].gamma_beta.bias.fill_(0.25)
    path = tmp_path / "adaptor.safetensors"
    adaptor.save_pretrained(path)
    loaded = PicdAdaptor.from_pretrained(path)
    assert loaded.config == adaptor.config
    assert all(torch.equal(a, b) for a, b in zip(adaptor.state_dict().values(), loaded.state_dict().values()))
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(RenderUnavailableError, match="not a safetensors file"):
        PicdAdaptor.from_pretrained(tmp_path / "junk.safetensors")
    with pytest.raises(RenderUnavailableError, match="not found"):
        PicdAdaptor.from_pretrained(tmp_path / "missing.safetensors")


def test_adaptor_for_another_unet_is_refused_with_a_clear_message(backbone):
    from picd_core.diffusion.diffusers_backend import AdaptorHooks

    sd15 = PicdAdaptor(AdaptorConfig.for_unet([320, 640, 1280, 1280], 2, encoder_channels=[8, 8, 8, 8],
                                              hint_channels=[8, 8, 8], hint_out=8, sft_hidden=8, time_embed_dim=8))
    with pytest.raises(InvalidInputError, match="trained for a UNet with 22 ResNet blocks"):
        AdaptorHooks(sd15, backbone.resnets())


def test_domain_prompt_fits_the_token_limit(backbone):
    words = [Word(f"word{i}", 10 * i, 0, 8, 8) for i in range(200)]
    prompt = domain_prompt(TextLayout.from_lines([words]), backbone.tokenizer)
    assert prompt.startswith(SCREEN_PREFIX + "word0 word1")
    assert len(backbone.tokenizer(prompt)["input_ids"]) <= 77
    longer = prompt + " " + words[len(prompt[len(SCREEN_PREFIX):].split())].text
    assert len(backbone.tokenizer(longer)["input_ids"]) > 77  # as many words as fit, no fewer
    assert domain_prompt(TextLayout()) == ""


def _render(backbone, small_screen, weight, mode="full", ocr=0.0, recognizer=None, codec="mlic"):
    image, layout, glyph = small_screen
    config = RenderConfig(steps=3, seed=1, denoise=0.5, guidance=GuidanceConfig(
        recompression_weight=weight, ocr_weight=ocr, mode=mode, ocr_start=0.0))
    return render_diffusion(backbone, image, layout, glyph, config, codec=get_codec(codec), quality=1,
                            recognizer=recognizer)


def test_rendering_never_moves_or_alters_the_registry_codec(backbone, small_screen):
    image, layout, _ = small_screen
    codec = get_codec("mlic")  # the instance every encode/decode in the process shares
    before = encode_image(image, mode="screen", codec="mlic", quality=1, layout=layout).picd.to_bytes()
    state = {k: (v.device, v.data_ptr(), v.requires_grad) for k, v in codec.model.named_parameters()}
    copy = codec.differentiable_model("meta")  # another device: the codec's own model must stay on the CPU
    assert all(p.device.type == "meta" and not p.requires_grad for p in copy.parameters())
    result = DiffusionRenderer(backbone, config=RenderConfig(steps=2, denoise=0.5, guidance=GuidanceConfig(
        recompression_weight=10.0, ocr_weight=0.0))).render(image, layout, small_screen[2], "screen", codec=codec)
    assert result.records and "recompression" in result.records[0].losses
    assert {k: (v.device, v.data_ptr(), v.requires_grad) for k, v in codec.model.named_parameters()} == state
    picd = encode_image(image, mode="screen", codec="mlic", quality=1, layout=layout).picd
    assert picd.to_bytes() == before
    decode_picd(PicdFile.from_bytes(before))  # still decodes (a moved entropy model made this fail as "corrupt")


def test_a_codec_without_a_differentiable_model_turns_recompression_off_with_a_note(backbone, small_screen):
    result = _render(backbone, small_screen, 50.0, codec="jpeg")
    assert result.records == []
    assert result.notes == ["codec jpeg has no differentiable model: re-compression guidance off"]


def test_recompression_guidance_pulls_the_render_towards_the_decoded_image(backbone, small_screen):
    image = small_screen[0].astype(np.float64)
    unguided = _render(backbone, small_screen, 0.0)
    guided = _render(backbone, small_screen, 50.0)
    cheap = _render(backbone, small_screen, 50.0, mode="cheap")
    assert unguided.records == [] and len(guided.records) == 3
    assert all(np.isfinite(r.losses["recompression"]) and r.grad_norm > 0 for r in guided.records)
    assert unguided.image.shape == guided.image.shape == (128, 128, 3)
    mse = {name: float(((r.image - image) ** 2).mean()) for name, r in
           (("unguided", unguided), ("guided", guided), ("cheap", cheap))}
    assert mse["guided"] < mse["unguided"] and mse["cheap"] < mse["unguided"], mse
    assert guided.prompt.startswith(SCREEN_PREFIX)


def test_ocr_term_runs_with_the_real_recogniser(backbone, small_screen):
    # Shows only that the OCR term plugs into the sampler with finite losses: the backbone has random weights, so no
    # recogniser (the optimised one or an independent one) could judge legibility here.
    pytest.importorskip("easyocr_en_models")
    from picd_core.diffusion.recognizer import load_recognizer

    result = _render(backbone, small_screen, 1.0, ocr=1.0, recognizer=load_recognizer())
    assert all("ocr" in r.losses and np.isfinite(r.losses["ocr"]) for r in result.records)


def test_cli_decode_with_diffusion_and_a_trained_adaptor(tmp_path, tiny_sd, small_screen, trained_adaptor):
    from picd_core.images import save_image

    image, _, _ = small_screen
    save_image(image, tmp_path / "in.png")
    run = [sys.executable, "-m", "picd_core.cli"]
    subprocess.run(run + ["encode", str(tmp_path / "in.png"), "-o", str(tmp_path / "in.picd"), "--mode", "natural",
                          "-q"], check=True)
    out = subprocess.run(run + ["decode", str(tmp_path / "in.picd"), "-o", str(tmp_path / "out.png"), "--render",
                                "diffusion", "--model", str(tiny_sd), "--adaptor", trained_adaptor["output"],
                                "--steps", "2", "--ocr-weight", "0"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out.png").is_file() and "render=diffusion" in out.stdout
    missing = subprocess.run(run + ["decode", str(tmp_path / "in.picd"), "-o", str(tmp_path / "x.png"), "--render",
                                    "diffusion", "--model", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "could not load the diffusion model" in missing.stderr or "neither a local path" in missing.stderr


@pytest.fixture(scope="module")
def trained_adaptor(tiny_sd, tmp_path_factory):
    pytest.importorskip("accelerate")
    return _train(tiny_sd, tmp_path_factory.mktemp("adaptor"), "adaptor")


def _train(tiny_sd, tmp_path, target, steps=30):
    from picd_core.diffusion.train import RenderTrainConfig, train_render

    cfg = RenderTrainConfig(model=str(tiny_sd), output=str(tmp_path / f"{target}.safetensors"), target=target,
                            steps=steps, batch_size=2, crop=64, lr=1e-3, lora_rank=4, adaptor_channels=[16, 32],
                            screen_pool=2, log_every=10)
    return train_render(cfg)


def test_adaptor_training_loss_falls_and_the_checkpoint_renders(trained_adaptor, backbone, small_screen):
    result = trained_adaptor
    losses = result["losses"]
    assert len(losses) == 30 and np.mean(losses[-10:]) < 0.9 * np.mean(losses[:10]), losses
    adaptor = PicdAdaptor.from_pretrained(result["output"])
    assert adaptor.config.encoder_channels == [16, 32]
    assert any(float(s.gamma_beta.weight.abs().max()) > 0 for s in adaptor.sft)  # trained away from zero
    image, layout, glyph = small_screen
    rendered = render_diffusion(backbone, image, layout, glyph, RenderConfig(steps=2, guidance=GuidanceConfig(
        recompression_weight=0, ocr_weight=0)), adaptor=adaptor)
    assert rendered.image.shape == image.shape and rendered.records == []


def test_lora_training_writes_a_standard_lora_that_diffusers_loads(tmp_path, tiny_sd):
    pytest.importorskip("peft")
    from safetensors import safe_open

    result = _train(tiny_sd, tmp_path, "lora", steps=20)
    assert np.mean(result["losses"][-5:]) < np.mean(result["losses"][:5])
    with safe_open(result["output"], framework="pt") as f:
        keys = list(f.keys())
        alpha = f.get_tensor(next(k for k in keys if k.endswith(".alpha")))
    assert keys and all(k.startswith("lora_unet_") for k in keys)
    modules = {k.rsplit(".", 2)[0] if k.endswith(".weight") else k.rsplit(".", 1)[0] for k in keys}
    assert all({f"{m}.lora_down.weight", f"{m}.lora_up.weight", f"{m}.alpha"} <= set(keys) for m in modules)
    assert any("attn1_to_q" in m for m in modules) and any("resnets_0_conv1" in m for m in modules)
    assert float(alpha) == 4.0  # alpha = rank by default: scale 1
    base = DiffusersBackbone.load(tiny_sd)
    tuned = DiffusersBackbone.load(tiny_sd, lora=result["output"])
    x, sigma = torch.randn(1, 4, 8, 8), torch.tensor([2.0])
    context = base.encode_prompt("a screenshot with text: ok")
    assert (tuned.denoiser(context)(x, sigma) - base.denoiser(context)(x, sigma)).abs().max() > 1e-5
    with pytest.raises(RenderUnavailableError, match="LoRA file not found"):
        DiffusersBackbone.load(tiny_sd, lora=tmp_path / "none.safetensors")


def test_a_registered_guidance_term_joins_the_sum(backbone, small_screen, monkeypatch):
    from picd_core.diffusion.guidance import GuidanceTerm, base

    class Darker(GuidanceTerm):  # a term as CONTRIBUTING.md describes: a loss, a weight and a step range
        name = "darker"

        def loss(self, image):
            return image.mean() * 100

    monkeypatch.setitem(base._FACTORIES, "darker", lambda config, ctx: Darker(config.weight("darker"), 0.5, 1.0))
    image, layout, glyph = small_screen
    config = RenderConfig(steps=4, seed=1, denoise=0.5, guidance=GuidanceConfig(
        recompression_weight=0.0, ocr_weight=0.0, extra_weights={"darker": 1.0}))
    result = render_diffusion(backbone, image, layout, glyph, config)
    assert [r.step for r in result.records] == [2, 3]  # active from half-way only
    assert all(set(r.losses) == {"darker"} and r.grad_norm > 0 for r in result.records)
    off = render_diffusion(backbone, image, layout, glyph, RenderConfig(steps=4, seed=1, denoise=0.5,
                           guidance=GuidanceConfig(recompression_weight=0.0, ocr_weight=0.0)))
    assert off.records == [] and result.image.mean() < off.image.mean()
