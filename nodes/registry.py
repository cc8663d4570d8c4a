"""Every node of the pack, in menu order."""
from . import folders
from .auto_node import SafetySteeringAuto
from .build_nodes import ExtractSafetyDirection, FitBenignAlignment, LoadSourceLLM, TransportDirection
from .steer_nodes import ApplySafetySteering, CategoryVectorMixer, LoadSafetyDirection, SaveSafetyDirection

folders.register()

NODES = [SafetySteeringAuto, LoadSourceLLM, ExtractSafetyDirection, FitBenignAlignment, TransportDirection,
         ApplySafetySteering, CategoryVectorMixer, SaveSafetyDirection, LoadSafetyDirection]
