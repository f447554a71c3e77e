"""Turn a training checkpoint into shippable weights: build the entropy tables, save, hash, record in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

from .checkpoint import load_model, save_model, sha256_file
from .codec import MANIFEST, WEIGHTS_DIR, read_manifest


def export_weights(checkpoint: str | Path, output: str | Path, name: str | None = None,
                   recipe: dict | None = None, register: bool = False, make_default: bool = False) -> dict:
    model = load_model(checkpoint)
    model.update(force=True)
    save_model(model, output, half=True)
    entry = {
        "file": Path(output).name,
        "sha256": sha256_file(output),
        "bytes": Path(output).stat().st_size,
        "rate_levels": len(model.cfg.lambdas),
        "lambdas": list(model.cfg.lambdas),
        "config": model.cfg.to_dict(),
        "recipe": recipe or {},
    }
    if register:
        if Path(output).resolve().parent != WEIGHTS_DIR.resolve():
            raise ValueError(f"registered weights must live in {WEIGHTS_DIR}")
        manifest = read_manifest()
        manifest.setdefault("models", {})[name or Path(output).stem] = entry
        if make_default or not manifest.get("default"):
            manifest["default"] = name or Path(output).stem
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return entry
