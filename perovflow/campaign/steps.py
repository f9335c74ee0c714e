"""Every step a campaign job can run, by the name jobs carry (:class:`~perovflow.campaign.next.Job`).

Both drivers, the FireWorks adapter and the local runner, look steps up here; a step takes
the :class:`~perovflow.campaign.context.CampaignContext` and the job's arguments and
returns a :class:`~perovflow.campaign.next.Next`.
"""
from __future__ import annotations

from typing import Any, Callable

from perovflow.campaign import active_learning, imported, initial, ml_batches, pruning, relaxation
from perovflow.campaign.context import CampaignContext
from perovflow.campaign.next import Next

Step = Callable[..., Next]

STEPS: dict[str, Step] = {
    "generate": initial.generate,
    "imported_pool": imported.imported_pool,
    "featurize": initial.featurize,
    "select": initial.select,
    "label": initial.label,
    "fit": initial.fit,
    "engine_relax": relaxation.engine_relax,
    "baseline_test": active_learning.start,
    "baseline_record": active_learning.baseline_record,
    "iteration": active_learning.iteration,
    "acquire": active_learning.acquire_step,
    "refit": active_learning.refit,
    "decide": active_learning.decide,
    "prune": pruning.prune,
    "finish": pruning.finish,
    "ml_relax_batch": ml_batches.relax_batch,
}


# steps that run the labelling engine (DFT on a cluster): queues.dft; every other step is ML
# work (one core, memory for the kernel): queues.ml
ENGINE_STEPS = frozenset({"label", "engine_relax"})


def queue_of(step: str) -> str:
    """``"dft"`` or ``"ml"``: the ``queues`` setting that names the step's FireWorks category."""
    return "dft" if step in ENGINE_STEPS else "ml"


def run_step(ctx: CampaignContext, step: str, args: dict[str, Any]) -> Next:
    if step not in STEPS:
        raise KeyError(f"unknown campaign step {step!r}; known: {', '.join(STEPS)}")
    return STEPS[step](ctx, **args)
