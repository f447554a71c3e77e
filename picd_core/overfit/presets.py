"""Encode-effort presets of the overfitted codec (torch-free, so the CLI and the nodes can list them cheaply).

Only the encoder uses a preset: it is the fit's iteration budget, never written into the file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    iterations: int
    description: str


PRESETS = {
    "fast": Preset("fast", 300, "300 iterations (~2 min for a Kodak image on 2 CPU cores)"),
    "medium": Preset("medium", 1000, "1,000 iterations"),
    "slow": Preset("slow", 3000, "3,000 iterations"),
    "placebo": Preset("placebo", 10000, "10,000 iterations (for a GPU)"),
}
