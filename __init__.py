"""ComfyUI entry point for the PICD node pack.

ComfyUI imports this file from custom_nodes/<pack>/. The node classes live in nodes/ (thin wrappers over picd_core);
until the node-pack issue lands, the pack registers no nodes.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
