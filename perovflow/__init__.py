"""perovflow: data-efficient ML datasets for perovskite alloys as FireWorks workflows.

Importing the package is cheap on purpose: the interpreter start-up hook
(:mod:`perovflow.fireworks.hook`) imports it in every process of the environment.
"""
from __future__ import annotations

from perovflow.fireworks.hook import activate as _activate

__version__ = "0.1.0"

# Where the start-up hook is not installed (a read-only site-packages), importing perovflow
# still fixes FireWorks and, in perovflow's own processes, sets the BLAS and torch defaults
# before numpy and torch load. Importing this package alone does not make a process
# perovflow's (the hook imports it everywhere); importing any perovflow module does.
_activate()


def load_model(*args, **kwargs):
    """An ASE calculator of a model, from an exported ``.npz``/``.json`` or a campaign's
    database: see :func:`perovflow.exchange.loading.load_model` (loaded on first use, so
    that importing perovflow stays cheap)."""
    from perovflow.exchange.loading import load_model as load

    return load(*args, **kwargs)
