"""CrossSteer: cross-model safety steering for ComfyUI.

ComfyUI imports this folder as a custom-node pack and calls `comfy_entrypoint()`; scripts import it as
the package `crosssteer`. Nothing from ComfyUI is imported until ComfyUI asks for the nodes, so
`import crosssteer.directions` works without ComfyUI installed.
"""


async def comfy_entrypoint():
    """V3 entry point: ComfyUI awaits this and registers the returned extension's nodes."""
    from .nodes.extension import CrossSteerExtension

    return CrossSteerExtension()
