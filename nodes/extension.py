"""The pack's V3 extension: the list of nodes ComfyUI registers."""
from comfy_api.latest import ComfyExtension, io


class CrossSteerExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        from .registry import NODES

        return list(NODES)
