"""The CsPbBr3 CCD potential of Thomas, Bechtel, Natarajan and Van der Ven (2019, "Machine
learning the DFT potential energy surface for inorganic halide perovskite CsPbBr3";
Thomas et al. 2019 in the rest of perovflow): collective cluster deformations (CCDs) of
the cubic reference, their symmetry-invariant polynomials, cluster- and site-based
neural networks, and the campaign that samples, labels, chooses a model by k-fold
cross-validation, trains a committee and tests it on held-out structures and paths.

Sub-packages and modules, each importing only those listed before it:

- :mod:`perovflow.ccd.descriptor`: the cubic reference (``CubicPerovskite``), clusters
  (``ClusterSet``), CCDs and invariants, ``CCDDescriptor`` / ``CCDSettings``.
- :mod:`perovflow.ccd.sampler`: the training-set sampler (``CsPbBr3Sampler``,
  ``SamplerSettings``), Glazer tilts (``build_tilted``), evaluation paths.
- :mod:`perovflow.ccd.networks`: ``CCDNNCommittee``, ``TrainingSchedule``, and
  :mod:`~perovflow.ccd.networks.model_selection` (``Candidate``, ``FeatureBank``,
  ``cross_validate``); these need torch.
- :mod:`perovflow.ccd.config` (``load_campaign``), :mod:`perovflow.ccd.labels`
  (``CachedOracle``), :mod:`perovflow.ccd.plots`, :mod:`perovflow.ccd.pipeline`
  (``run_campaign``); the command is :mod:`perovflow.cli.ccd` (``perovflow ccd``).

This package file imports nothing, so that ``perovflow.cli.ccd`` loads without torch.
No other science package (structures, descriptors, selection, models, engines) imports
``perovflow.ccd``.
"""
from __future__ import annotations
