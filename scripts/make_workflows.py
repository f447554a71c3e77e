"""Regenerate workflows/ (UI format: ComfyUI lists these as the pack's templates) from workflows/api/ (API format,
the source; ComfyUI does not list subfolders).

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
from nodes.workflow_tools import api_to_ui, node_size  # noqa: E402

TITLES = {
    "picd_screen_codec": "PICD screen codec: OCR -> text layer -> glyph -> MLIC -> .picd -> decode -> direct render",
    "picd_natural_codec": "PICD natural codec: MLIC -> .picd -> decode",
    "picd_decode_file": "PICD decode a .picd file from the input folder",
    "picd_screen_diffusion": "PICD screen codec with diffusion rendering: text layer + MLIC -> domain prompt -> "
                             "OCR-guided sampler on your SD checkpoint (training-free)",
    "picd_natural_diffusion": "PICD natural codec with diffusion rendering: MLIC -> re-compression-guided sampler",
}


GAP = 50


def layout(api: dict, sizes: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Columns by depth in the graph, rows in id order; each column as wide as its widest node, nothing overlaps."""
    depth: dict[str, int] = {}

    def d(nid: str) -> int:
        if nid not in depth:
            ups = [v[0] for v in api[nid]["inputs"].values() if isinstance(v, list) and len(v) == 2]
            depth[nid] = 1 + max((d(u) for u in ups), default=-1)
        return depth[nid]

    columns: dict[int, list[str]] = {}
    for nid in api:
        columns.setdefault(d(nid), []).append(nid)
    pos, x = {}, 60
    for col in sorted(columns):
        y = 60
        for nid in columns[col]:
            pos[nid] = (x, y)
            y += sizes[nid][1] + GAP + 30  # + the title bar above the node's body
        x += max(sizes[nid][0] for nid in columns[col]) + GAP
    return pos


def title_of(api_node: dict, info: dict) -> str:
    return (api_node.get("_meta", {}).get("title") or info[api_node["class_type"]].get("display_name")
            or api_node["class_type"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--object-info", default=str(ROOT.parent / "shared" / "comfyui" / "object_info_0.33.0.json"))
    args = parser.parse_args()
    info = json.loads(Path(args.object_info).read_text())
    info.update(pack_object_info())
    for path in sorted((ROOT / "workflows" / "api").glob("*.json")):
        api = json.loads(path.read_text())
        sizes = {nid: node_size(info[n["class_type"]], n, title_of(n, info)) for nid, n in api.items()}
        ui = api_to_ui(api, info, layout(api, sizes), TITLES.get(path.stem, path.stem), sizes)
        (ROOT / "workflows" / path.name).write_text(json.dumps(ui, indent=1) + "\n")
        print(f"workflows/{path.name}")


if __name__ == "__main__":
    main()
