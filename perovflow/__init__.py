"""perovflow: data-efficient ML datasets for perovskite alloys as FireWorks workflows.

Importing the package is cheap on purpose: the interpreter start-up hook
(:mod:`perovflow.fireworks.hook`) imports it in every process of the environment.
"""
from __future__ import annotations

from perovflow.fireworks.hook import activate as _activate

__version__ = "0.1.0"

# Every entry point (perovflow, lpad, rlaunch, tests) must set the BLAS core type and the
# FireWorks id fix before numpy or FireWorks load; doing it at package import covers the
# processes that import perovflow first, the .pth hook covers the rest.
_activate()
