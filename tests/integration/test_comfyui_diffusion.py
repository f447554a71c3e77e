"""The diffusion nodes inside ComfyUI's own model code (in-process, CPU, tiny SD1.5-shaped UNet + TAESD).

Runs when COMFYUI_PATH points at a ComfyUI checkout (COMFYUI_PYTHON: its interpreter); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMFYUI = os.environ.get("COMFYUI_PATH")
pytestmark = pytest.mark.skipif(not COMFYUI, reason="set COMFYUI_PATH to a ComfyUI checkout to run host tests")


# A LoRA written by our exporter for the tiny diffusers UNet whose topology matches the check's ComfyUI UNet.
MAKE_LORA = r"""
import sys, torch
from picd_core.diffusion.diffusers_backend import DiffusersBackbone
from picd_core.diffusion.lora import add_lora, save_lora
from picd_core.diffusion.tiny import build_tiny_sd
unet = DiffusersBackbone.load(build_tiny_sd(sys.argv[1] + "/tiny_sd")).unet
add_lora(unet, rank=4)
with torch.no_grad():
    for name, p in unet.named_parameters():
        if "lora_B" in name:
            p.normal_(0, 0.05)
save_lora(unet, sys.argv[1] + "/lora.safetensors")
from picd_core.diffusion.adaptor import AdaptorConfig, PicdAdaptor
adaptor = PicdAdaptor(AdaptorConfig.for_unet([32, 64], 1, encoder_channels=[16, 32], hint_channels=[8, 8, 8],
                                             hint_out=8, sft_hidden=8, time_embed_dim=32))
with torch.no_grad():
    for sft in adaptor.sft:
        sft.gamma_beta.weight.normal_(0, 0.05)
adaptor.save_pretrained(sys.argv[1] + "/adaptor.safetensors")
"""


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    work = tmp_path_factory.mktemp("comfy_diffusion")
    out = work / "out.json"
    lora = subprocess.run([sys.executable, "-c", MAKE_LORA, str(work)], capture_output=True, text=True, cwd=ROOT)
    assert lora.returncode == 0, lora.stderr[-3000:]
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    proc = subprocess.run([python, str(Path(__file__).with_name("comfy_diffusion_check.py")), COMFYUI, str(ROOT),
                           str(out), str(work)], capture_output=True, text=True, timeout=1200,
                          cwd=work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def test_adaptor_finds_every_resblock(measured):
    # tiny SD1.5-shaped UNet: 2 levels × 1 ResBlock down, 2 mid, 2 levels × 2 up
    assert measured["slots"] == [32, 64, 64, 64, 64, 64, 32, 32]


def test_zero_initialised_adaptor_changes_nothing_and_a_trained_one_does(measured):
    assert measured["zero_init_max_diff"] == 0.0
    assert measured["trained_max_diff"] > 1e-3


def test_patching_leaves_the_cached_model_alone(measured):
    assert measured["original_unchanged_max_diff"] == 0.0


def test_adaptor_file_loads_through_the_loader_node(measured):
    assert measured["loader_report"].startswith("adaptor.safetensors:")
    assert measured["loaded_adaptor_max_diff"] > 1e-3
    assert measured["bad_file_error"].startswith("NodeInputError: PICD Adaptor Loader:")


def test_mismatched_adaptor_gets_a_clear_error(measured):
    error = measured["mismatch_error"]
    assert error and error.startswith("NodeInputError: PICD Adaptor Apply:") and "trained for a UNet" in error


def test_guided_sampler_runs_under_inference_mode_and_pulls_towards_the_decoded_image(measured):
    runs = measured["runs"]
    assert runs["guided"]["finite"] and runs["unguided"]["finite"]
    assert runs["guided"]["shape"] == [1, 192, 256, 3]
    assert "recompression" in runs["guided"]["report"] and "no guidance" in runs["unguided"]["report"]
    # the re-compression loss compares codec(x̂0) with X̄: following its gradient brings the output closer to X̄
    assert runs["guided"]["mse_to_xbar"] < runs["unguided"]["mse_to_xbar"]


def test_ocr_guidance_runs_in_the_host(measured):
    assert measured["ocr_run"]["finite"] and "ocr" in measured["ocr_run"]["report"]


def test_exported_lora_loads_completely_with_comfyuis_lora_loader(measured):
    assert measured["lora_modules"] > 20
    assert measured["lora_unmapped"] == []  # every module maps; ComfyUI would silently drop unmapped ones
    assert measured["lora_changes_output"] > 1e-4


def test_default_sampler_guides_every_second_step_with_taesd(measured):
    run = measured["default_run"]
    assert run["finite"] and run["asked"] == ["taesd_decoder"]
    assert run["report"].startswith("4 steps, guided 2:") and "guidance decoded with TAESD" in run["report"]
    assert "nan" not in run["report"] and "recompression" in run["report"]
    error = measured["missing_taesd_error"]
    assert error and error.startswith("NodeInputError: PICD OCR-Guided Sampler:") and "models/vae_approx" in error
