"""ComfyUI nodes of the PICD pack: spec.py (what the nodes are), logic.py (what they do, ComfyUI-free), comfy_v3.py
(the V3 glue, imported only inside ComfyUI). Imports go one way: nodes -> picd_core."""


async def comfy_entrypoint():
    from .comfy_v3 import PicdExtension

    return PicdExtension()
