"""ComfyUI node classes: thin wrappers over picd_core. Imports go one way: nodes -> picd_core."""

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
