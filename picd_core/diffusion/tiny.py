"""A tiny SD-architecture pipeline with random weights, built from configs: for tests, benches and CI training runs.

It has the real SD topology (UNet2DConditionModel with cross-attention, AutoencoderKL, CLIP text encoder, a CLIP BPE
tokenizer with a byte-level vocabulary) at a few hundred thousand parameters. It is NOT a usable image model."""

from __future__ import annotations

import json
from pathlib import Path


def _byte_vocab() -> dict[str, int]:
    # CLIP's byte-to-unicode table: every byte gets a printable character, so any text tokenizes without merges.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    vocab: dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def build_tiny_sd(path: str | Path, seed: int = 0, cross_attention_dim: int = 32, sd15_shaped: bool = False) -> Path:
    """Write a diffusers folder (model_index.json, unet, vae, text_encoder, tokenizer, scheduler) and return it.

    sd15_shaped=True gives the UNet and VAE the exact SD 1.5 architecture (860 M + 84 M parameters, still random;
    the text encoder stays small): for measuring costs at real scale."""
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if sd15_shaped:
        cross_attention_dim = 768
        unet = UNet2DConditionModel(cross_attention_dim=768, sample_size=64)  # diffusers' defaults are SD 1.5's
        vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            block_out_channels=(128, 256, 512, 512), latent_channels=4, layers_per_block=2,
                            sample_size=512)
    unet = unet if sd15_shaped else UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cross_attention_dim, attention_head_dim=4, norm_num_groups=8)
    vae = vae if sd15_shaped else AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 16, 16, 16),
                        latent_channels=4, layers_per_block=1, norm_num_groups=8, sample_size=64,
                        mid_block_add_attention=False)
    text_config = CLIPTextConfig(vocab_size=514, hidden_size=cross_attention_dim, intermediate_size=64,
                                 num_hidden_layers=2, num_attention_heads=4 if not sd15_shaped else 12, max_position_embeddings=77,
                                 bos_token_id=512, eos_token_id=513, pad_token_id=513)
    text_encoder = CLIPTextModel(text_config)
    tok_dir = path / "_tokenizer_src"
    tok_dir.mkdir(exist_ok=True)
    (tok_dir / "vocab.json").write_text(json.dumps(_byte_vocab()))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              num_train_timesteps=1000, prediction_type="epsilon",
                              clip_sample=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(str(path))
    for f in tok_dir.iterdir():
        f.unlink()
    tok_dir.rmdir()
    return path
