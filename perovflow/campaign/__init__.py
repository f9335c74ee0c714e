"""The paper's steps on top of the store, with no FireWorks in them (Homm et al. 2025):
the initial dataset (:mod:`.initial`), fits (:mod:`.fitting`), engine relaxations
(:mod:`.relaxation`), the relaxation test (:mod:`.relaxation_test`), two-stage active
learning (:mod:`.active_learning`, rules in :mod:`.rules`) and pruning (:mod:`.pruning`).
Each step returns a plain :class:`~.next.Next`; :mod:`perovflow.fireworks` turns it into
Fireworks and :mod:`.local` runs it in-process.
"""
