"""ComfyUI entry point of the PICD node pack (V3 API: `comfy_entrypoint`).

The pack bundles its library, picd_core, beside this file; it is importable when the pack is pip-installed, and
otherwise this folder is appended to sys.path (after everything else, so it never shadows a host module).
"""

import os
import sys

WEB_DIRECTORY = "./web"

if __package__:  # imported as a package, as ComfyUI does
    _here = os.path.dirname(os.path.abspath(__file__))
    try:
        import picd_core  # noqa: F401
    except ImportError:
        sys.path.append(_here)
    from .nodes import comfy_entrypoint  # noqa: E402

    __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
