"""The two CrossSteer nodes add-steering inserts, as `/object_info` describes them (the parts a workflow
file needs: inputs in order, widget defaults, outputs). tests/test_add_steering.py checks this against
the real `/object_info` of a ComfyUI with the pack loaded, so the two cannot drift apart silently."""
from __future__ import annotations

LOAD = "CrossSteerLoadSafetyDirection"
APPLY = "CrossSteerApplySafetySteering"
MODES = ("add", "ablate", "gated")

DEFINITIONS = {
    LOAD: {
        "display_name": "Load Safety Direction",
        "input": {"required": {"direction_file": ["COMBO", {"options": []}]}},
        "input_order": {"required": ["direction_file"]},
        "output": ["SAFETY_DIRECTION"], "output_name": ["direction"],
    },
    APPLY: {
        "display_name": "Apply Safety Steering",
        "input": {
            "required": {
                "conditioning": ["CONDITIONING", {}],
                "direction": ["SAFETY_DIRECTION", {}],
                "strength": ["FLOAT", {"default": 3.0, "min": -50.0, "max": 50.0}],
                "mode": ["COMBO", {"options": list(MODES), "default": "add"}],
                "tokens": ["COMBO", {"default": "content"}],
                "gate_threshold": ["FLOAT", {"default": 0.0}],
            },
            "optional": {
                "alignment": ["ALIGNMENT", {}],
                "steer_pooled": ["BOOLEAN", {"default": True}],
                "family": ["COMBO", {"default": "auto"}],
                "gate_fpr": ["FLOAT", {"default": 0.05}],
            },
        },
        "input_order": {"required": ["conditioning", "direction", "strength", "mode", "tokens", "gate_threshold"],
                        "optional": ["alignment", "steer_pooled", "family", "gate_fpr"]},
        "output": ["CONDITIONING"], "output_name": ["CONDITIONING"],
    },
}
