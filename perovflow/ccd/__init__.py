"""The CsPbBr3 CCD-NN campaign (seed 003) run in-process: sampler -> oracle labels ->
k-fold model choice -> committee -> held-out test -> evaluation paths and plots."""
from __future__ import annotations
