"""Run by ComfyUI-Manager after requirements.txt. Installs nothing: the pack's entropy coder is its own code
(picd_core/mlic/entropy_coding.py), so it needs no CompressAI and never touches the host's torch or numpy.
It only checks for Tesseract, a system program the OCR node needs."""

import shutil

if shutil.which("tesseract") is None:
    print("[PICD] Tesseract is not installed: the OCR node needs it (apt-get install tesseract-ocr, "
          "brew install tesseract, or the UB-Mannheim installer on Windows).")
