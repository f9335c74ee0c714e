"""Unit conversions used across perovflow (ASE units: eV, Å)."""
from __future__ import annotations

EV_TO_MEV = 1000.0
