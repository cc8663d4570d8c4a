"""ComfyUI workflow files as plain JSON: read (UI or API format, bare or in an envelope), convert UI to API,
trace the positive prompts, splice safety steering in, write back. No ComfyUI import anywhere: node
definitions come in as an `/object_info` dict when they are needed.

(Not named `workflow`: ComfyUI serves a custom node's `workflow/` folder, if it has one, as its example
workflows, in place of `workflows/`.)"""
