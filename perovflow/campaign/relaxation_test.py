"""The relaxation test of Homm et al. 2025 (section IV.B): the same starting structures
relaxed once by the engine and, every iteration, by the current ML model; how many ML
relaxations converge within the step limit, and how far their relaxed energies are from
the engine's.

Mixing enthalpies (the paper's Fig. 7) use each method's own relaxed end members of the
same phase; the numbers themselves are :mod:`perovflow.models.relaxation_test`.
"""
from __future__ import annotations

import time
from typing import Any

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.jobs import relaxation_job
from perovflow.campaign.ml_batches import batched, gathered
from perovflow.campaign.next import Job, Next, fan_in
from perovflow.campaign.records import RelaxationRequest
from perovflow.models.relaxation_test import (  # noqa: F401  (the campaign's names for them)
    RelaxedEnergy,
    end_member_starts,
    halide_fractions,
    mixing_enthalpies,
    mixing_enthalpy,
    relaxation_test_metrics,
)
from perovflow.structures import generate_relaxation_starts

# the relaxation-test starts are drawn with their own random stream, apart from the pool's
TEST_START_SEED_OFFSET = 7919


# the test within a campaign ---------------------------------------------------------------
def prepare_relaxation_test(ctx: CampaignContext) -> list[str]:
    """Store the relaxation-test starts (``test_per_phase`` per phase, plus each phase's
    single-halide end members for mixing enthalpies); returns their ids."""
    active = ctx.settings.active
    starts = generate_relaxation_starts(ctx.system, phases=tuple(ctx.settings.phases),
                                        per_phase=active.test_per_phase,
                                        seed=active.seed + TEST_START_SEED_OFFSET)
    ends = end_member_starts(ctx.system, ctx.settings.phases)
    for offset, atoms in enumerate(ends):
        atoms.info["pool_index"] = len(starts) + offset
    return ctx.store.add_structures([*starts, *ends], role="relax_test")


def relaxation_test_jobs(ctx: CampaignContext, test_ids: list[str]) -> Next:
    """The engine relaxes every relaxation-test start once; then the initial model is tested
    (iteration 0) and active learning starts."""
    settings = ctx.settings
    active = settings.active
    relaxations = [
        relaxation_job(f"relax-{n}", RelaxationRequest(f"test:{sid}", sid, sid, active.test_fmax,
                                                       active.test_max_steps, "relax_test"),
                       name=f"{settings.name}: relaxation test {n}")
        for n, sid in enumerate(test_ids)
    ]
    baseline = Job("baseline", "baseline_test", name=f"{settings.name}: relaxation test of the initial model",
                   tolerate_failed=True)
    return fan_in(relaxations, baseline)


def relaxation_test_ids(ctx: CampaignContext) -> list[str]:
    """The relaxation-test starts whose engine relaxation finished (the others have no
    reference to compare with), in the test's order."""
    store = ctx.store
    return [sid for sid in store.structure_ids("relax_test")
            if (store.trajectory(f"test:{sid}") or {}).get("finished")]


def evaluate_relaxation_test(ctx: CampaignContext, tag: str) -> dict[str, Any]:
    """ML-relax every relaxation-test start with model ``tag``, one after the other, and
    compare the relaxed energies with the engine's (the batched jobs give the same)."""
    calculator, model_record = ctx.calculator_and_record(tag)
    usable = relaxation_test_ids(ctx)
    began = time.perf_counter()
    ml = []
    for start in ctx.store.structures(usable):
        trace = ctx.ml_relax(start, calculator, track_sigma=False)
        ml.append(RelaxedEnergy(trace.energies[-1] / len(start), trace.converged, trace.steps))
    return relaxation_test_record(ctx, tag, model_record["version"], usable, ml, time.perf_counter() - began)


def batched_relaxation_test(ctx: CampaignContext, tag: str, then: Job) -> Next:
    """The relaxation test of model ``tag`` as batch jobs; ``then`` (given ``start_ids``)
    gathers them with :func:`gathered_relaxation_test`."""
    usable = relaxation_test_ids(ctx)
    then = Job(then.key, then.step, {**then.args, "start_ids": usable}, then.name, then.after, then.tolerate_failed,
               then.optional)
    return batched(ctx.settings, "test", tag, usable, then)


def gathered_relaxation_test(ctx: CampaignContext, tag: str, start_ids: list[str]) -> dict[str, Any]:
    """The relaxation test of model ``tag`` from its batches' stored relaxations."""
    docs = gathered(ctx, "test", tag, start_ids)
    ml = [RelaxedEnergy(doc["energy_per_atom"], bool(doc["converged"]), int(doc["steps"])) for doc in docs]
    version = next(m["version"] for m in ctx.store.models() if m.get("tag") == tag)
    return relaxation_test_record(ctx, tag, version, list(start_ids), ml, sum(doc["seconds"] for doc in docs))


def relaxation_test_record(ctx: CampaignContext, tag: str, version: int, usable: list[str],
                           ml: list[RelaxedEnergy], seconds: float) -> dict[str, Any]:
    """Metrics and mixing enthalpies of ML relaxations ``ml`` of the starts ``usable``
    against the engine's relaxations of the same starts."""
    store, halides = ctx.store, ctx.settings.system.x
    ids = store.structure_ids("relax_test")
    starts = store.structures(usable)
    engine = []
    for sid in usable:
        ref = store.trajectory(f"test:{sid}")
        engine.append(RelaxedEnergy(ref["energy_per_atom"], bool(ref["converged"]), int(ref["steps"])))
    # single-halide cells are the mixing-enthalpy references, not part of the error metrics
    is_end = [len(set(start.get_chemical_symbols()) & set(halides)) == 1 for start in starts]
    mixed = [k for k in range(len(usable)) if not is_end[k]]
    metrics = relaxation_test_metrics([ml[k] for k in mixed], [engine[k] for k in mixed]) if mixed else {}
    ends_ml: dict[str, dict[str, float]] = {}
    ends_engine: dict[str, dict[str, float]] = {}
    for k, start in enumerate(starts):
        if is_end[k]:
            phase, halide = start.info.get("phase"), sorted(set(start.get_chemical_symbols()) & set(halides))[0]
            ends_ml.setdefault(phase, {})[halide] = ml[k].energy_per_atom
            ends_engine.setdefault(phase, {})[halide] = engine[k].energy_per_atom
    mixed_structures = [starts[k] for k in mixed]
    dh_ml = mixing_enthalpies(mixed_structures, [ml[k].energy_per_atom for k in mixed], halides, ends_ml)
    dh_engine = mixing_enthalpies(mixed_structures, [engine[k].energy_per_atom for k in mixed], halides, ends_engine)
    mixing_rows = [{"structure_id": usable[k], "phase": starts[k].info.get("phase"),
                    "dh_ml_mev": dml, "dh_engine_mev": deng, "ml_converged": ml[k].converged}
                   for k, dml, deng in zip(mixed, dh_ml, dh_engine)]
    metrics.update({"model_version": version, "model_tag": tag, "n_missing_reference": len(ids) - len(usable),
                    "seconds": seconds, "mixing_enthalpies": mixing_rows})
    return metrics
