"""In-process ComfyUI check of the diffusion nodes on a tiny SD1.5-shaped model (random weights), CPU.

Run by test_comfyui_diffusion.py with ComfyUI's Python: python comfy_diffusion_check.py COMFYUI_PATH PACK_ROOT OUT.json
Prints one JSON object with what it measured; the pytest side asserts on it.
"""

import json
import sys

comfy_path, pack_root, out_path, work = sys.argv[1:5]
lora_path, adaptor_path = work + "/lora.safetensors", work + "/adaptor.safetensors"
sys.argv = [sys.argv[0], "--cpu"]
sys.path[:0] = [comfy_path, pack_root]  # pack_root: for picd_core

import torch  # noqa: E402

import comfy.options  # noqa: E402

comfy.options.enable_args_parsing()  # so that --cpu is read
import comfy.model_management  # noqa: E402,F401
import comfy.lora  # noqa: E402
import comfy.model_patcher  # noqa: E402
import comfy.sample  # noqa: E402
import comfy.samplers  # noqa: E402
import comfy.sd  # noqa: E402
import comfy.supported_models  # noqa: E402
from comfy.taesd.taesd import TAESD  # noqa: E402

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

# Import the pack as ComfyUI does (a package), since ComfyUI's own nodes.py shadows a top-level "nodes".
_spec = importlib.util.spec_from_file_location("picd_pack", Path(pack_root) / "__init__.py",
                                               submodule_search_locations=[pack_root])
_pack = importlib.util.module_from_spec(_spec)
sys.modules["picd_pack"] = _pack
_spec.loader.exec_module(_pack)
comfy_diffusion = importlib.import_module("picd_pack.nodes.comfy_diffusion")
from picd_core import encode_image  # noqa: E402
from picd_core.data.screens import generate_screen  # noqa: E402
from picd_core.diffusion.adaptor import AdaptorConfig, PicdAdaptor  # noqa: E402
from picd_core.glyph import render_glyph  # noqa: E402
from picd_core.pipeline import decode_picd  # noqa: E402

torch.manual_seed(0)
unet_config = {"model_channels": 32, "in_channels": 4, "out_channels": 4, "num_res_blocks": [1, 1],
               "channel_mult": [1, 2], "transformer_depth": [1, 0], "transformer_depth_output": [1, 1, 0, 0],
               "context_dim": 32, "use_spatial_transformer": True, "num_heads": 4, "num_head_channels": -1, "use_linear_in_transformer": False,
               "adm_in_channels": None, "use_temporal_attention": False, "use_temporal_resblock": False,
               "image_size": 32, "transformer_depth_middle": 1, "disable_self_attentions": None}
results: dict = {}
with torch.inference_mode():  # as ComfyUI runs every node
    cfg = comfy.supported_models.SD15(dict(unet_config))
    base = cfg.get_model({})
    vae = comfy.sd.VAE(sd=TAESD().state_dict())
    # ComfyUI builds models without weight initialisation (weights come from checkpoints): give every parameter a
    # small deterministic value so that the random model computes finite outputs.
    generator = torch.Generator().manual_seed(0)
    for module in (m for root in (base.diffusion_model, vae.first_stage_model) for m in root.modules()):
        if isinstance(module, (torch.nn.GroupNorm, torch.nn.LayerNorm)) and module.weight is not None:
            module.weight.fill_(1.0)
            module.bias.fill_(0.0)
        elif isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = module.weight[0].numel()
            module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / fan_in**0.5)
            if module.bias is not None:
                module.bias.fill_(0.0)
    model = comfy.model_patcher.ModelPatcher(base, torch.device("cpu"), torch.device("cpu"))
    context = torch.randn(1, 77, 32)
    positive = [[context, {}]]
    negative = [[torch.zeros_like(context), {}]]

    crop = generate_screen(5, 480, 320, kind="document").image[:192, :256].copy()
    picd = encode_image(crop, mode="screen", codec="mlic", quality=1).picd
    decoded = decode_picd(picd)
    x_bar = torch.from_numpy(decoded.image_layer).float().div(255)[None]
    glyph = torch.from_numpy(render_glyph(decoded.layout, 256, 192)).float().div(255)[None, :, :, None].repeat(
        1, 1, 1, 3)

    def ksample(m, seed=1):
        latent = vae.encode(x_bar[..., :3])
        noise = comfy.sample.prepare_noise(latent, seed)
        sigmas = comfy.samplers.calculate_sigmas(m.get_model_object("model_sampling"), "normal", 4)
        return comfy.sample.sample_custom(m, noise, 1.0, comfy.samplers.sampler_object("euler"), sigmas,
                                          positive, negative, latent, seed=seed)

    slots = [b.out_channels for b in comfy_diffusion.unet_resblocks(base.diffusion_model)]
    results["slots"] = slots
    with torch.inference_mode(False):
        adaptor = PicdAdaptor(AdaptorConfig.for_unet([32, 64], 1, encoder_channels=[16, 32],
                                                     hint_channels=[8, 8, 8], hint_out=8, sft_hidden=8,
                                                     time_embed_dim=32))
    reference = ksample(model)
    (patched,), _ = comfy_diffusion.apply_adaptor(model, adaptor, vae, x_bar, 1.0, glyph)
    results["zero_init_max_diff"] = float((ksample(patched) - reference).abs().max())
    with torch.inference_mode(False), torch.no_grad():
        for sft in adaptor.sft:
            sft.gamma_beta.weight.normal_(0, 0.05)
    results["trained_max_diff"] = float((ksample(patched) - reference).abs().max())
    results["original_unchanged_max_diff"] = float((ksample(model) - reference).abs().max())
    (loaded,), results["loader_report"] = comfy_diffusion.load_adaptor("adaptor.safetensors", lambda _n: adaptor_path)
    (with_loaded,), _ = comfy_diffusion.apply_adaptor(model, loaded, vae, x_bar, 1.0, glyph)
    results["loaded_adaptor_max_diff"] = float((ksample(with_loaded) - reference).abs().max())
    try:
        comfy_diffusion.load_adaptor("lora.safetensors", lambda _n: lora_path)
        results["bad_file_error"] = None
    except Exception as exc:  # noqa: BLE001 - the message is what we check
        results["bad_file_error"] = f"{type(exc).__name__}: {exc}"
    try:
        comfy_diffusion.apply_adaptor(model, PicdAdaptor(AdaptorConfig.for_unet([64, 128], 1)), vae, x_bar, 1.0)
        results["mismatch_error"] = None
    except Exception as exc:  # noqa: BLE001 - the message is what we check
        results["mismatch_error"] = f"{type(exc).__name__}: {exc}"

    import safetensors.torch

    lora_sd = safetensors.torch.load_file(lora_path)
    modules = {k.rsplit(".", 2)[0] if k.endswith(".weight") else k.rsplit(".", 1)[0] for k in lora_sd}
    key_map = comfy.lora.model_lora_keys_unet(base, {})
    results["lora_modules"] = len(modules)
    results["lora_unmapped"] = sorted(m for m in modules if m not in key_map)
    with_lora, _ = comfy.sd.load_lora_for_models(model, None, lora_sd, 1.0, 0)
    results["lora_changes_output"] = float((ksample(with_lora) - reference).abs().max())

    runs = {}
    for name, weight in (("unguided", 0.0), ("guided", 50.0)):
        (latent, image), report = comfy_diffusion.guided_sample(
            patched, positive, negative, vae, [picd], x_bar, seed=3, steps=3, denoise=0.5,
            recompression_weight=weight, ocr_weight=0.0, guidance_mode="full", guidance_every=1,
            text_layout=[decoded.layout], glyph=glyph)
        runs[name] = {"report": report, "shape": list(image.shape), "finite": bool(torch.isfinite(image).all()),
                      "mse_to_xbar": float(((image - x_bar) ** 2).mean())}
    results["runs"] = runs
    (latent, image), report = comfy_diffusion.guided_sample(
        patched, positive, negative, vae, [picd], x_bar, seed=3, steps=2, denoise=0.5, recompression_weight=1.0,
        ocr_weight=1.0, guidance_mode="cheap", guidance_every=1, text_layout=[decoded.layout], glyph=glyph)
    results["ocr_run"] = {"report": report, "finite": bool(torch.isfinite(image).all())}
    # the defaults: guidance every 2nd step, decoded with TAESD from models/vae_approx when it is there
    import safetensors.torch  # noqa: E402

    taesd_file = work + "/taesd_decoder.safetensors"
    # the (deterministically initialised) decoder of the check's TAESD VAE, as a models/vae_approx file
    safetensors.torch.save_file({k: v.detach().contiguous() for k, v in
                                 vae.first_stage_model.taesd_decoder.state_dict().items()}, taesd_file)
    asked = []
    (latent, image), report = comfy_diffusion.guided_sample(
        patched, positive, negative, vae, [picd], x_bar, seed=3, steps=4, denoise=0.5, recompression_weight=1.0,
        ocr_weight=0.0, text_layout=[decoded.layout], glyph=glyph,
        taesd_path=lambda name: asked.append(name) or taesd_file)
    results["default_run"] = {"report": report, "finite": bool(torch.isfinite(image).all()), "asked": asked}
    try:
        comfy_diffusion.guided_sample(patched, positive, negative, vae, [picd], x_bar, steps=2,
                                      guidance_decoder="taesd", taesd_path=lambda name: None)
        results["missing_taesd_error"] = None
    except Exception as exc:
        results["missing_taesd_error"] = f"{type(exc).__name__}: {exc}"

with open(out_path, "w") as f:
    json.dump(results, f, indent=1)
print(json.dumps(results, indent=1))
