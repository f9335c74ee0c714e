"""FHI-aims engine: inputs, output parser, custodian job and error handlers, engine.

Science code only (no FireWorks, no MongoDB). FHI-aims itself is licensed and is not
needed to import or test this package.
"""
from __future__ import annotations

from perovflow.engines.aims.engine import AimsEngine
from perovflow.engines.aims.guard import NUMERICAL_KEYS, check_numerical_only, control_changes, edit_control
from perovflow.engines.aims.handlers import (
    CloseEncounterHandler,
    CpuConsistencyHandler,
    FrozenRunHandler,
    IllConditionedOverlapHandler,
    ScfConvergenceHandler,
    TrustedDescentHandler,
    WallTimeHandler,
    default_handlers,
)
from perovflow.engines.aims.inputs import AimsSettings, control_text, geometry_text, read_geometry, write_inputs
from perovflow.engines.aims.job import AimsJob
from perovflow.engines.aims.outputs import AimsOutput, AimsStep, parse_aims_output, read_aims_output
from perovflow.engines.aims.restart import prepare_restart, trajectory

__all__ = [
    "AimsEngine", "AimsJob", "AimsOutput", "AimsSettings", "AimsStep", "CloseEncounterHandler",
    "CpuConsistencyHandler", "FrozenRunHandler", "IllConditionedOverlapHandler", "NUMERICAL_KEYS",
    "ScfConvergenceHandler", "TrustedDescentHandler", "WallTimeHandler", "check_numerical_only",
    "control_changes", "control_text", "default_handlers", "edit_control", "geometry_text",
    "parse_aims_output", "prepare_restart", "read_aims_output", "read_geometry",
    "trajectory", "write_inputs",
]
