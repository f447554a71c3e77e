"""The pack's web extension loads in the real ComfyUI frontend (headless Chromium via puppeteer-core)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import COMFYUI, ROOT

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not COMFYUI or not Path(CHROMIUM).exists() or shutil.which("node") is None or not os.environ.get("PUPPETEER_DIR"),
    reason="needs COMFYUI_PATH, Chromium, node and PUPPETEER_DIR (a folder with node_modules/puppeteer-core)",
)


def test_extension_loads_without_errors(server, tmp_path):
    shot = Path(os.environ.get("PICD_SCREENSHOT", tmp_path / "frontend.png"))
    env = {**os.environ, "NODE_PATH": str(Path(os.environ["PUPPETEER_DIR"]) / "node_modules"), "CHROMIUM": CHROMIUM}
    script = Path(os.environ["PUPPETEER_DIR"]) / "frontend_check.mjs"
    shutil.copy(HERE / "frontend_check.mjs", script)  # ESM resolves packages next to the script
    workflow = ROOT / "example_workflows" / "picd_screen_codec.json"
    proc = subprocess.run(["node", str(script), server["url"], str(shot), str(workflow)], capture_output=True,
                          text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "PICD.nodes" in result["names"]
    assert result["nodeCreated"]
    # The real frontend turns our UI workflow into exactly our API workflow.
    expected = json.loads((ROOT / "workflows" / "picd_screen_codec.json").read_text())
    got = {nid: {"class_type": n["class_type"], "inputs": n["inputs"]} for nid, n in result["prompt"].items()}
    assert got == {nid: {"class_type": n["class_type"], "inputs": n["inputs"]} for nid, n in expected.items()}
    assert not [e for e in result["errors"] if "picd" in e.lower()], result["errors"]
    assert shot.stat().st_size > 10_000
