"""Image and video evaluation: render prompt sets on ComfyUI servers, score them, report ASR vs CLIP-Score."""
