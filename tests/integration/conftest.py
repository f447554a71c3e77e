"""A real ComfyUI server for the host tests (module-scoped per test file, CPU only)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMFYUI = os.environ.get("COMFYUI_PATH")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def post(url: str, body: dict):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("comfy")
    for d in ("custom_nodes", "input", "output", "user", "models/picd"):
        (base / d).mkdir(parents=True)
    # a copy, as users install it (git clone): ComfyUI will not serve templates through a symlinked pack folder
    shutil.copytree(ROOT, base / "custom_nodes" / "picd", ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", "node_modules"))
    shutil.copy(ROOT / "picd_core" / "assets" / "samples" / "screen.png", base / "input" / "picd_sample_screen.png")
    shutil.copy(Path(COMFYUI) / "input" / "example.png", base / "input" / "example.png")
    # the .picd file picd_decode_file names, written by this checkout (the host tests stage every input themselves)
    from picd_core import encode_image
    from picd_core.images import load_image

    encode_image(load_image(str(ROOT / "picd_core" / "assets" / "samples" / "screen.png")), mode="screen", codec="webp",
                 quality=20).picd.save(base / "input" / "picd_sample_screen.picd")
    (base / "extra.yaml").write_text(f"picd_test:\n    base_path: {base}\n    custom_nodes: custom_nodes/\n"
                                     f"    picd: models/picd/\n")
    port = free_port()
    cmd = [os.environ.get("COMFYUI_PYTHON", "python3"), "main.py", "--cpu", "--listen", "127.0.0.1", "--port",
           str(port), "--disable-api-nodes", "--database-url", "sqlite:///:memory:", "--input-directory",
           str(base / "input"), "--output-directory", str(base / "output"), "--user-directory", str(base / "user"),
           "--extra-model-paths-config", str(base / "extra.yaml"), "--disable-auto-launch"]
    log = open(base / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=COMFYUI, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ComfyUI exited: {(base / 'server.log').read_text()[-3000:]}")
        try:
            get(f"{url}/system_stats", timeout=2)
            break
        except Exception:
            time.sleep(1)
    else:
        proc.kill()
        raise RuntimeError("ComfyUI did not start in 180 s")
    yield {"url": url, "base": base, "log": base / "server.log"}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


