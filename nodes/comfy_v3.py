"""ComfyUI glue: V3 node classes generated from nodes/spec.py, calling nodes/logic.py. Imported only inside ComfyUI."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import comfy.utils
import folder_paths
from comfy_api.latest import ComfyExtension, io, ui

from . import comfy_diffusion, logic
from .spec import (ADAPTOR_FILES_PROVIDER, BITSTREAM_FILES_PROVIDER, CODEC_CHOICES_PROVIDER, NO_ADAPTOR, NODE_SPECS,
                   NodeSpec, Socket)

MODEL_FOLDER = "picd"

# models/picd, keeping any paths users added for "picd" in extra_model_paths.yaml (loaded before custom nodes).
if MODEL_FOLDER in folder_paths.folder_names_and_paths:
    _paths = folder_paths.folder_names_and_paths[MODEL_FOLDER][0]
else:
    _paths = [os.path.join(folder_paths.models_dir, MODEL_FOLDER)]
folder_paths.folder_names_and_paths[MODEL_FOLDER] = (_paths, {".safetensors"})

_CUSTOM_TYPES: dict[str, type] = {}


def _custom(type_name: str):
    if type_name not in _CUSTOM_TYPES:
        _CUSTOM_TYPES[type_name] = io.Custom(type_name)
    return _CUSTOM_TYPES[type_name]


def _model_file(name: str) -> str | None:
    return folder_paths.get_full_path(MODEL_FOLDER, name)


def _picd_files() -> list[str]:
    root = Path(folder_paths.get_input_directory())
    return sorted(str(p.relative_to(root)).replace(os.sep, "/") for p in root.rglob("*.picd") if p.is_file())


def _choices(provider: str | None) -> list[str]:
    if provider == CODEC_CHOICES_PROVIDER:
        return logic.codec_choices(folder_paths.get_filename_list(MODEL_FOLDER))
    if provider == BITSTREAM_FILES_PROVIDER:
        return _picd_files()
    if provider == ADAPTOR_FILES_PROVIDER:
        files = comfy_diffusion.adaptor_files(folder_paths.get_filename_list(MODEL_FOLDER), _model_file)
        return files or [NO_ADAPTOR]
    raise ValueError(f"unknown choices provider {provider!r}")


# ComfyUI's own socket types the diffusion nodes use.
_HOST_TYPES = {"MODEL": io.Model, "VAE": io.Vae, "CONDITIONING": io.Conditioning, "LATENT": io.Latent}


def _input(s: Socket):
    common = {"tooltip": s.tooltip or None, "optional": s.optional}
    if s.type in _HOST_TYPES:
        return _HOST_TYPES[s.type].Input(s.name, **common)
    if s.type == "IMAGE":
        return io.Image.Input(s.name, **common)
    if s.type == "MASK":
        return io.Mask.Input(s.name, **common)
    if s.type == "INT":
        return io.Int.Input(s.name, default=s.default, min=s.min, max=s.max, step=s.step, **common)
    if s.type == "FLOAT":
        return io.Float.Input(s.name, default=s.default, min=s.min, max=s.max, step=s.step, **common)
    if s.type == "STRING":
        return io.String.Input(s.name, default=s.default, **common)
    if s.type == "BOOLEAN":
        return io.Boolean.Input(s.name, default=s.default, **common)
    if s.type == "COMBO":
        return io.Combo.Input(s.name, options=list(s.options) if s.options else _choices(s.dynamic_options),
                              default=s.default, **common)
    return _custom(s.type).Input(s.name, **common)


def _output(o):
    if o.type == "STRING":
        return io.String.Output(o.name, tooltip=o.tooltip or None)
    if o.type in _HOST_TYPES:
        return _HOST_TYPES[o.type].Output(o.name, tooltip=o.tooltip or None)
    if o.type == "IMAGE":
        return io.Image.Output(o.name, tooltip=o.tooltip or None)
    if o.type == "MASK":
        return io.Mask.Output(o.name, tooltip=o.tooltip or None)
    return _custom(o.type).Output(o.name, tooltip=o.tooltip or None)


def _progress(total_hint: int = 1):
    bar = comfy.utils.ProgressBar(total_hint)
    return lambda done, total: bar.update_absolute(done, total)


def _taesd_path(decoder_name: str | None) -> str | None:
    """models/vae_approx/<decoder_name>.* (e.g. taesd_decoder.safetensors for SD 1.x/2.x), as ComfyUI's previews."""
    if not decoder_name:
        return None
    name = next((f for f in folder_paths.get_filename_list("vae_approx") if f.startswith(decoder_name)), None)
    return folder_paths.get_full_path("vae_approx", name) if name else None


def _picd_path(name: str) -> str:
    root = Path(folder_paths.get_input_directory()).resolve()
    path = (root / name).resolve()
    if root not in path.parents:
        raise logic.NodeInputError(f"PICD Load Bitstream: {name!r} is outside the input folder")
    return str(path)


def _run(spec: NodeSpec, node_cls: type, kwargs: dict):
    fn = getattr(comfy_diffusion if spec.needs_host else logic, spec.function)
    if spec.function == "load_adaptor":
        kwargs["resolve_model_file"] = _model_file
    if spec.function in ("ocr_extract", "mlic_encode", "mlic_decode"):
        kwargs["progress"] = _progress()
    if spec.function == "load_codec":
        import comfy.model_management

        kwargs["resolve_model_file"] = _model_file
        kwargs["device"] = str(comfy.model_management.get_torch_device())
    if spec.function == "guided_sample":
        kwargs["taesd_path"] = _taesd_path
    if spec.function == "save_bitstream":
        kwargs["output_dir"] = folder_paths.get_output_directory()
    if spec.function == "load_bitstream":
        kwargs = {"path": _picd_path(kwargs["file"])}
    result, report = fn(**kwargs)
    shown: dict = {}
    if isinstance(report, str) and report:
        shown["text"] = [report]
    elif isinstance(report, list):  # saved files
        shown["text"] = [", ".join(report)]
    if spec.function == "ocr_extract":  # show the word boxes on the node itself
        shown.update(ui.PreviewImage(result[1], cls=node_cls).as_dict())
    return io.NodeOutput(*result, ui=shown or None)


def _intermediate_flag(spec: NodeSpec) -> dict:
    """Reports (bytes, bpp, OCR boxes) are cached with the outputs and resent on reruns and page reloads (ComfyUI's
    has_intermediate_output; older hosts without it just do not resend them)."""
    if spec.output_node or "has_intermediate_output" not in getattr(io.Schema, "__dataclass_fields__", {}):
        return {}
    return {"has_intermediate_output": True}


def _node_class(spec: NodeSpec) -> type[io.ComfyNode]:
    def define_schema(cls):
        return io.Schema(
            node_id=spec.node_id, display_name=spec.display_name, category=spec.category,
            description=spec.description, inputs=[_input(s) for s in spec.inputs],
            outputs=[_output(o) for o in spec.outputs], is_output_node=spec.output_node,
            search_aliases=list(spec.search_aliases),
            **_intermediate_flag(spec),
        )

    def execute(cls, **kwargs):
        return _run(spec, cls, kwargs)

    namespace = {"define_schema": classmethod(define_schema), "execute": classmethod(execute),
                 "__doc__": spec.description}
    if spec.function == "load_bitstream":
        def fingerprint_inputs(cls, file):
            path = _picd_path(file)
            return hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).is_file() else file

        def validate_inputs(cls, file):
            if not Path(_picd_path(file)).is_file():
                return f"PICD Load Bitstream: {file!r} not found; put .picd files in ComfyUI's input folder"
            return True

        namespace["fingerprint_inputs"] = classmethod(fingerprint_inputs)
        namespace["validate_inputs"] = classmethod(validate_inputs)
    if spec.function == "load_codec":
        def validate_codec(cls, codec, quality):  # before the graph runs: the range depends on the chosen codec
            try:
                logic.check_codec_quality(codec, quality, _model_file)
            except logic.NodeInputError as exc:
                return str(exc)
            return True

        namespace["validate_inputs"] = classmethod(validate_codec)
    if spec.function == "load_adaptor":
        def validate_adaptor(cls, adaptor_name):
            if adaptor_name == NO_ADAPTOR or _model_file(adaptor_name) is None:
                return ("PICD Adaptor Loader: no PICD adaptor in models/picd/; train one (picd train-adaptor), put "
                        "the .safetensors file in models/picd/ and press R to refresh, or remove this node")
            return True

        namespace["validate_inputs"] = classmethod(validate_adaptor)
    return type(spec.node_id, (io.ComfyNode,), namespace)


NODE_CLASSES = [_node_class(spec) for spec in NODE_SPECS]


class PicdExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODE_CLASSES
