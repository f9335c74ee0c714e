"""The training-set sampler of Thomas et al. 2019 for CsPbBr3 (2x2x2): Glazer tilt systems,
symmetry-adapted displacement modes and strains, random n-sphere samples with a
uniqueness check, interpolations between phases, and the evaluation paths."""
from __future__ import annotations

from perovflow.ccd.sampler.glazer import TILT_SYSTEMS, build_tilted, parse_glazer
from perovflow.ccd.sampler.modes import displacement_modes, strain_irreps
from perovflow.ccd.sampler.paths import PATH_AXES, PATHS, evaluation_paths
from perovflow.ccd.sampler.sampler import CsPbBr3Sampler, SamplerSettings, SampleSet, phase_path

__all__ = ["CsPbBr3Sampler", "PATHS", "PATH_AXES", "SampleSet", "SamplerSettings", "TILT_SYSTEMS",
           "build_tilted", "displacement_modes", "evaluation_paths", "parse_glazer", "phase_path",
           "strain_irreps"]
