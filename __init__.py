"""CrossSteer: cross-model safety steering for ComfyUI.

ComfyUI imports this folder as a custom-node pack and calls `comfy_entrypoint()`; scripts import it as
the package `crosssteer`. Nothing from ComfyUI is imported until ComfyUI asks for the nodes, so
`import crosssteer.directions` works without ComfyUI installed.
"""
from importlib import import_module
from pathlib import Path


def _package_name() -> str:
    """ComfyUI imports this folder under a name made from its path. Where the same folder is also
    installed as `crosssteer` (pip install -e), use that name, so that the library's classes exist once
    and a direction made by a script is the same kind of object the nodes expect."""
    try:
        import crosssteer
    except ImportError:
        return __name__
    same = crosssteer.__file__ and Path(crosssteer.__file__).resolve().parent == Path(__file__).resolve().parent
    return "crosssteer" if same else __name__


async def comfy_entrypoint():
    """V3 entry point: ComfyUI awaits this and registers the returned extension's nodes."""
    return import_module(f"{_package_name()}.nodes.extension").CrossSteerExtension()
