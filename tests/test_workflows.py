import copy
import json
from pathlib import Path

import pytest

from nodes.spec import NODE_SPECS, object_info
from nodes.workflow_tools import ui_to_api, validate_api

ROOT = Path(__file__).resolve().parents[1]
OBJECT_INFO = ROOT.parent / "shared" / "comfyui" / "object_info_0.33.0.json"
API_DIR = ROOT / "workflows" / "api"  # API format: not listed by ComfyUI (it lists workflows/*.json only)
NAMES = sorted(p.stem for p in API_DIR.glob("*.json"))


@pytest.fixture(scope="module")
def info():
    if not OBJECT_INFO.is_file():
        pytest.skip("shared/comfyui/object_info_0.33.0.json is not available")
    builtin = json.loads(OBJECT_INFO.read_text())
    ours = object_info()
    assert not set(ours) & set(builtin), "a pack node id collides with a built-in node"
    return {**builtin, **ours}


def test_required_workflows_exist():
    assert {"picd_screen_codec", "picd_natural_codec"} <= set(NAMES)
    assert {p.stem for p in (ROOT / "workflows").glob("*.json")} == set(NAMES)
    # one folder of templates: ComfyUI lists example_workflows/, examples/, workflow/ … too, which doubled them
    for other in ("example_workflows", "example", "examples", "workflow"):
        assert not list((ROOT / other).glob("*.json")), f"{other}/ would list the templates a second time"
    for name in NAMES:  # the template browser shows workflows/<name>.jpg
        thumb = ROOT / "workflows" / f"{name}.jpg"
        assert thumb.is_file() and thumb.read_bytes()[:2] == b"\xff\xd8", f"no JPEG thumbnail for {name}"


@pytest.mark.parametrize("name", NAMES)
def test_api_workflow_is_valid(name, info):
    api = json.loads((API_DIR / f"{name}.json").read_text())
    assert validate_api(api, info) == []


@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_matches_api_workflow(name, info):
    ui = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    api = json.loads((API_DIR / f"{name}.json").read_text())
    assert ui["version"] == 0.4 and ui["nodes"] and ui["links"]
    for link in ui["links"]:  # every link is recorded on both ends
        _, src, slot, dst, dst_slot, _ = link
        src_node = next(n for n in ui["nodes"] if n["id"] == src)
        dst_node = next(n for n in ui["nodes"] if n["id"] == dst)
        assert link[0] in src_node["outputs"][slot]["links"]
        assert dst_node["inputs"][dst_slot]["link"] == link[0]
    assert ui_to_api(ui, info) == api


def test_validator_catches_broken_workflows(info):
    api = json.loads((API_DIR / "picd_screen_codec.json").read_text())
    bad = copy.deepcopy(api)
    bad["5"]["inputs"]["quality"] = 500  # the Codec Loader (its declared range is 0–100)
    bad["9"]["inputs"]["text_layout"] = ["1", 0]  # IMAGE into a text-layout socket
    bad["3"]["class_type"] = "PICD_NoSuchNode"
    del bad["4"]["inputs"]["text_layout"]
    errors = "\n".join(validate_api(bad, info))
    assert "outside" in errors and "wants PICD_TEXT_LAYOUT but gets IMAGE" in errors
    assert "unknown node type 'PICD_NoSuchNode'" in errors and "required input 'text_layout'" in errors


def test_node_ids_are_stable_and_namespaced():
    ids = [s.node_id for s in NODE_SPECS]
    assert len(ids) == len(set(ids)) and all(i.startswith("PICD_") for i in ids)
    assert all(s.category.startswith("PICD/") for s in NODE_SPECS)
    assert all(s.display_name.startswith("PICD ") and s.description for s in NODE_SPECS)
    for required in ("PICD_OCRExtract", "PICD_TextEncode", "PICD_GlyphRender", "PICD_MLICEncode", "PICD_MLICDecode",
                     "PICD_AdaptorLoader", "PICD_AdaptorApply", "PICD_OCRGuidedSampler",
                     "PICD_SaveBitstream", "PICD_LoadBitstream", "PICD_DirectTextRender", "PICD_CodecLoader"):
        assert required in ids


def test_pack_entry_point_exports_only_the_v3_entrypoint():
    text = (ROOT / "__init__.py").read_text()
    assert "comfy_entrypoint" in text and "NODE_CLASS_MAPPINGS" not in text  # V1 mappings would shadow V3
    js = (ROOT / "web" / "picd.js").read_text()
    assert 'name: "PICD.' in js and 'from "../../scripts/app.js"' in js


@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_has_the_seed_control_slot_and_no_overlapping_nodes(name, info):
    ui = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    for node in ui["nodes"]:
        if node["type"] == "PICD_OCRGuidedSampler":  # the frontend stores control_after_generate right after seed
            assert node["widgets_values"][:3] == [0, "fixed", 20], node["widgets_values"]
    boxes = [(n["pos"][0], n["pos"][1] - 30, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
             for n in ui["nodes"]]  # 30: the title bar sits above pos
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], f"{name}: nodes overlap {a} {b}"
    for node in ui["nodes"]:
        title = node.get("title") or info[node["type"]]["display_name"]
        assert node["size"][0] >= 9 * len(title) + 40, f"{name}: title {title!r} would be cut"


def test_display_names_do_not_name_one_codec_where_any_codec_works():
    names = {s.node_id: s.display_name for s in NODE_SPECS}
    assert names["PICD_MLICEncode"] == "PICD Encode" and names["PICD_MLICDecode"] == "PICD Decode"
    assert not [n for n in names.values() if "MLIC" in n]
