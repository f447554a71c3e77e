"""Regenerate example_workflows/ (UI format) from workflows/ (API format, the source).

    python scripts/make_workflows.py            # needs ../shared/comfyui/object_info_0.33.0.json or --object-info
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nodes.spec import object_info as pack_object_info  # noqa: E402
from nodes.workflow_tools import api_to_ui  # noqa: E402

TITLES = {
    "picd_screen_codec": "PICD screen codec: OCR -> text layer -> glyph -> MLIC -> .picd -> decode -> direct render",
    "picd_natural_codec": "PICD natural codec: MLIC -> .picd -> decode",
    "picd_decode_file": "PICD decode a .picd file from the input folder",
    "picd_screen_diffusion": "PICD screen codec with diffusion rendering: text layer + MLIC -> domain prompt -> "
                             "OCR-guided sampler on your SD checkpoint (training-free)",
    "picd_natural_diffusion": "PICD natural codec with diffusion rendering: MLIC -> re-compression-guided sampler",
}


def layout(api: dict) -> dict[str, tuple[int, int]]:
    """Columns by depth in the graph, rows in id order."""
    depth: dict[str, int] = {}

    def d(nid: str) -> int:
        if nid not in depth:
            ups = [v[0] for v in api[nid]["inputs"].values() if isinstance(v, list) and len(v) == 2]
            depth[nid] = 1 + max((d(u) for u in ups), default=-1)
        return depth[nid]

    rows: dict[int, int] = {}
    pos = {}
    for nid in api:
        col = d(nid)
        pos[nid] = (60 + 360 * col, 60 + 420 * rows.get(col, 0))  # room for image previews
        rows[col] = rows.get(col, 0) + 1
    return pos


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--object-info", default=str(ROOT.parent / "shared" / "comfyui" / "object_info_0.33.0.json"))
    args = parser.parse_args()
    info = json.loads(Path(args.object_info).read_text())
    info.update(pack_object_info())
    for path in sorted((ROOT / "workflows").glob("*.json")):
        api = json.loads(path.read_text())
        ui = api_to_ui(api, info, layout(api), TITLES.get(path.stem, path.stem))
        (ROOT / "example_workflows" / path.name).write_text(json.dumps(ui, indent=1) + "\n")
        print(f"example_workflows/{path.name}")


if __name__ == "__main__":
    main()
