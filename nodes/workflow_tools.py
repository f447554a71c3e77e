"""ComfyUI workflow files without ComfyUI: API -> UI layout, UI -> API conversion, and validation against node
definitions in /object_info format (the pack's from nodes.spec, the host's from a saved object_info JSON).

Used to generate workflows/ (UI format, what the frontend opens and lists as templates) from workflows/api/ (API
format, what POST /prompt takes), and by the tests that keep them in sync.
"""

from __future__ import annotations

import uuid
from typing import Any

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
# Widgets that the frontend follows with an extra, unsaved-in-API value (control_after_generate / upload).
_EXTRA_WIDGET_VALUES = {("LoadImage", "image"): "image"}
# The frontend adds a control_after_generate widget after every INT widget named like this (or that asks for one).
SEED_WIDGETS = ("seed", "noise_seed")
SEED_CONTROL = "fixed"


def _extra_widget_value(class_type: str, name: str, spec: list):
    """The value the frontend stores right after this widget's own value, or None."""
    if (class_type, name) in _EXTRA_WIDGET_VALUES:
        return _EXTRA_WIDGET_VALUES[(class_type, name)]
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if spec[0] == "INT" and (name in SEED_WIDGETS or opts.get("control_after_generate")):
        return SEED_CONTROL
    return None


def node_size(info: dict, api_node: dict, title: str) -> tuple[int, int]:
    """A size that shows the whole title, every socket and widget, and room for an image preview where there is one."""
    inputs = _inputs_in_order(info)
    linked = {n for n, v in api_node["inputs"].items() if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)}
    sockets = sum(1 for n, s, _ in inputs if not _is_widget(s) or n in linked)
    widgets = sum(1 for n, s, _ in inputs if _is_widget(s) and n not in linked)
    widgets += sum(1 for n, s, _ in inputs if _is_widget(s) and n not in linked
                   and _extra_widget_value(api_node["class_type"], n, s) == SEED_CONTROL)
    width = max(320, 9 * len(title) + 80)
    height = 30 + 22 * max(sockets, len(info["output"])) + 26 * widgets
    if api_node["class_type"] in PREVIEW_NODES:
        height += 300
    return width, height


# Nodes that show images on themselves after a run (previews, the OCR boxes).
PREVIEW_NODES = {"LoadImage", "PreviewImage", "SaveImage", "PICD_OCRExtract"}
# COMBO inputs whose options are the user's files: their values are not checked against a saved object_info.
# Choices that depend on the user's files (images, models), not fixed by the node definitions.
DYNAMIC_COMBOS = {("LoadImage", "image"), ("PICD_LoadBitstream", "file"), ("PICD_CodecLoader", "codec"),
                  ("PICD_AdaptorLoader", "adaptor_name"), ("CheckpointLoaderSimple", "ckpt_name")}


def _inputs_in_order(info: dict) -> list[tuple[str, list, bool]]:
    out = []
    for section in ("required", "optional"):
        entries = info["input"].get(section, {})
        for name in info.get("input_order", {}).get(section, list(entries)):
            out.append((name, entries[name], section == "optional"))
    return out


def _is_widget(spec: list) -> bool:
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _widget_names(info: dict) -> list[str]:
    return [name for name, spec, _ in _inputs_in_order(info) if _is_widget(spec)]


def spec_default(info: dict, name: str) -> Any:
    """The value a widget shows while a link feeds it (its default, else an empty value of its type)."""
    spec = next(s for n, s, _ in _inputs_in_order(info) if n == name)
    opts = spec[1] if len(spec) > 1 else {}
    if "default" in opts:
        return opts["default"]
    return {"INT": 0, "FLOAT": 0.0, "BOOLEAN": False}.get(spec[0], "") if not isinstance(spec[0], list) else spec[0][0]


def api_to_ui(api: dict, object_info: dict, positions: dict[str, tuple[int, int]], title: str = "",
              sizes: dict[str, tuple[int, int]] | None = None) -> dict:
    """Lay an API workflow out as a UI (litegraph) workflow, version 0.4."""
    sizes = sizes or {}
    nodes, links = [], []
    link_id = 0
    incoming: dict[str, dict[str, int]] = {nid: {} for nid in api}
    outgoing: dict[tuple[str, int], list[int]] = {}
    for nid, node in api.items():
        for name, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                link_id += 1
                src, slot = value
                out_type = object_info[api[src]["class_type"]]["output"][slot]
                links.append([link_id, int(src), slot, int(nid), None, out_type, name])
                incoming[nid][name] = link_id
                outgoing.setdefault((src, slot), []).append(link_id)
    for order, (nid, node) in enumerate(api.items()):
        info = object_info[node["class_type"]]
        sockets = [(n, s, opt) for n, s, opt in _inputs_in_order(info) if not _is_widget(s)]
        # Widgets fed by a link (e.g. CLIP Text Encode's text from PICD Domain Prompt) become sockets too.
        sockets += [(n, s, opt) for n, s, opt in _inputs_in_order(info) if _is_widget(s) and n in incoming[nid]]
        ui_inputs = []
        for slot, (name, spec, optional) in enumerate(sockets):
            entry = {"name": name, "type": spec[0], "link": incoming[nid].get(name)}
            if _is_widget(spec):
                entry["widget"] = {"name": name}
            if optional:
                entry["shape"] = 7
            ui_inputs.append(entry)
            for link in links:
                if link[0] == entry["link"]:
                    link[4] = slot
        widgets = []
        for name in _widget_names(info):
            if name in node["inputs"]:
                value = node["inputs"][name]
                linked = isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
                widgets.append((spec_default(info, name) if linked else value))
                spec = next(s for n, s, _ in _inputs_in_order(info) if n == name)
                extra = _extra_widget_value(node["class_type"], name, spec)
                if extra is not None:
                    widgets.append(extra)
        outputs = [{"name": oname, "type": otype, "links": outgoing.get((nid, slot)) or None,
                    "slot_index": slot}
                   for slot, (oname, otype) in enumerate(zip(info["output_name"], info["output"]))]
        x, y = positions.get(nid, (100 + 320 * order, 100))
        nodes.append({
            "id": int(nid), "type": node["class_type"], "pos": [x, y], "size": list(sizes.get(nid, (300, 120))), "flags": {},
            "order": order, "mode": 0, "inputs": ui_inputs, "outputs": outputs,
            "properties": {"Node name for S&R": node["class_type"]}, "widgets_values": widgets,
            **({"title": node["_meta"]["title"]} if node.get("_meta", {}).get("title") else {}),
        })
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "picd/" + title)), "revision": 0,
        "last_node_id": max(int(n) for n in api), "last_link_id": link_id, "nodes": nodes,
        "links": [[l[0], l[1], l[2], l[3], l[4], l[5]] for l in links], "groups": [], "config": {},
        "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}, "info": {"title": title}}, "version": 0.4,
    }


def ui_to_api(ui: dict, object_info: dict) -> dict:
    """What the frontend's graphToPrompt does, for the node kinds our workflows use."""
    links = {l[0]: l for l in ui["links"]}
    api = {}
    for node in sorted(ui["nodes"], key=lambda n: n["id"]):
        if node.get("mode", 0) in (2, 4):  # muted / bypassed
            continue
        info = object_info.get(node["type"])
        if info is None:
            raise ValueError(f"node {node['id']}: unknown node type {node['type']!r}")
        inputs: dict[str, Any] = {}
        values = list(node.get("widgets_values", []))
        specs = {n: s for n, s, _ in _inputs_in_order(info)}
        for name in _widget_names(info):
            if not values:
                break
            inputs[name] = values.pop(0)
            if _extra_widget_value(node["type"], name, specs[name]) is not None and values:
                values.pop(0)
        for entry in node.get("inputs", []):
            if entry.get("link") is not None:
                link = links[entry["link"]]
                inputs[entry["name"]] = [str(link[1]), link[2]]
        api[str(node["id"])] = {"class_type": node["type"], "inputs": inputs,
                                **({"_meta": {"title": node["title"]}} if node.get("title") else {})}
    return api


def validate_api(api: dict, object_info: dict) -> list[str]:
    """Problems ComfyUI's validation would report (missing nodes, bad links, types, ranges, choices)."""
    errors = []
    for nid, node in api.items():
        ctype = node.get("class_type")
        info = object_info.get(ctype)
        if info is None:
            errors.append(f"node {nid}: unknown node type {ctype!r}")
            continue
        given = node.get("inputs", {})
        for name, spec, optional in _inputs_in_order(info):
            if name not in given:
                if not optional:
                    errors.append(f"node {nid} ({ctype}): required input {name!r} is missing")
                continue
            value = given[name]
            kind, opts = spec[0], (spec[1] if len(spec) > 1 else {})
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                src = api.get(value[0])
                if src is None:
                    errors.append(f"node {nid} ({ctype}): input {name!r} links to missing node {value[0]}")
                    continue
                src_info = object_info.get(src["class_type"])
                if src_info is None:
                    continue
                if value[1] >= len(src_info["output"]):
                    errors.append(f"node {nid}: input {name!r} links to output {value[1]} of {src['class_type']}, "
                                  "which has fewer outputs")
                    continue
                out_type = src_info["output"][value[1]]
                want = "COMBO" if isinstance(kind, list) else kind
                if out_type != want and "*" not in (out_type, want):
                    errors.append(f"node {nid} ({ctype}): input {name!r} wants {want} but gets {out_type} from "
                                  f"{src['class_type']}")
                continue
            if isinstance(kind, list):
                if (ctype, name) not in DYNAMIC_COMBOS and value not in kind:
                    errors.append(f"node {nid} ({ctype}): {name}={value!r} is not one of {kind[:8]}")
            elif kind in ("INT", "FLOAT"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "INT" and
                                                                                      not isinstance(value, int)):
                    errors.append(f"node {nid} ({ctype}): {name}={value!r} is not {kind}")
                elif ("min" in opts and value < opts["min"]) or ("max" in opts and value > opts["max"]):
                    errors.append(f"node {nid} ({ctype}): {name}={value} outside [{opts.get('min')}, {opts.get('max')}]")
            elif kind == "STRING" and not isinstance(value, str):
                errors.append(f"node {nid} ({ctype}): {name} must be a string")
            elif kind == "BOOLEAN" and not isinstance(value, bool):
                errors.append(f"node {nid} ({ctype}): {name} must be true/false")
            elif kind not in WIDGET_TYPES:
                errors.append(f"node {nid} ({ctype}): input {name!r} ({kind}) must be linked, got {value!r}")
    return errors
