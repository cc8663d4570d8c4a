"""Custom socket types of the pack (prefixed so they never collide with another pack's)."""
from comfy_api.latest import io

CrossSteerLLM = io.Custom("CROSSSTEER_LLM")
SafetyDirectionType = io.Custom("SAFETY_DIRECTION")
AlignmentType = io.Custom("ALIGNMENT")

CATEGORY = "conditioning/safety"
