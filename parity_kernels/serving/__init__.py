"""Coded serving: a frontend that forms coding groups, sends queries and coded queries to
model instances, and decodes late outputs (ParM), beside the baselines it is measured
against. Instances run locally (``LocalInstance``) or on Ray Serve (``ray_serve``).
"""

from .baselines import HedgedFrontend, UncodedFrontend
from .faults import NO_FAULTS, FaultPlan, FaultScenario, ServiceTime
from .frontend import Answer, CodedFrontend, Frontend, Timeouts
from .instance import Instance, InstanceDown, ModelRunner, Pending
from .latency import LatencyTracker
from .local import LocalInstance
from .metrics import FrontendMetrics

__all__ = [
    "Answer", "CodedFrontend", "Frontend", "FrontendMetrics", "FaultPlan", "FaultScenario", "HedgedFrontend",
    "Instance", "InstanceDown", "LatencyTracker", "LocalInstance", "ModelRunner", "NO_FAULTS", "Pending",
    "ServiceTime", "Timeouts", "UncodedFrontend",
]
