"""Run by ComfyUI-Manager after requirements.txt: installs CompressAI WITHOUT its declared dependencies.

compressai's metadata asks for torchvision, torch-geometric and numpy<2; resolving them would replace the host's torch
and downgrade its numpy. PICD imports only CompressAI's entropy models and rANS coder, which need torch, numpy and
scipy, all present in a ComfyUI environment.
"""

import shutil
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "pip", "install", "--no-deps", "compressai==1.2.8"])
if shutil.which("tesseract") is None:
    print("[PICD] Tesseract is not installed: the OCR node needs it (apt-get install tesseract-ocr, "
          "brew install tesseract, or the UB-Mannheim installer on Windows).")
