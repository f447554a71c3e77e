#!/usr/bin/env bash
# Set up, then encode and decode the bundled sample screenshot; prints sizes and bits per pixel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
sample=picd_core/assets/samples/screen.png
.venv/bin/picd encode "$sample" -o out/sample.picd --mode screen --force
.venv/bin/picd info out/sample.picd
.venv/bin/picd decode out/sample.picd -o out/sample_none.png --render none --force
.venv/bin/picd decode out/sample.picd -o out/sample_glyph.png --render glyph --force
echo "decoded images: out/sample_none.png (image layer), out/sample_glyph.png (with the text layer drawn)"
