"""ComfyUI entry point for the PICD node pack.

ComfyUI imports this file from custom_nodes/<pack>/. The node classes live in nodes/ (thin wrappers over picd_core);
until the node-pack issue lands, the pack registers no nodes.
"""

WEB_DIRECTORY = "./web"

if __package__:  # imported as a package, as ComfyUI does
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:  # imported as a lone file: pytest does this for a checkout folder whose name is not an identifier
    NODE_CLASS_MAPPINGS: dict = {}
    NODE_DISPLAY_NAME_MAPPINGS: dict = {}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
