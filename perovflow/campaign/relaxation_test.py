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


def evaluate_relaxation_test(ctx: CampaignContext, tag: str) -> dict[str, Any]:
    """ML-relax every relaxation-test start with model ``tag`` and compare the relaxed
    energies with the engine's; mixing enthalpies from each method's own end members."""
    store, halides = ctx.store, ctx.settings.system.x
    calculator, model_record = ctx.calculator_and_record(tag)
    version = model_record["version"]
    ids = store.structure_ids("relax_test")
    starts = store.structures(ids)
    references = {sid: store.trajectory(f"test:{sid}") for sid in ids}
    usable = [i for i, sid in enumerate(ids) if (references[sid] or {}).get("finished")]
    ml, engine = [], []
    began = time.perf_counter()
    for i in usable:
        start = starts[i]
        trace = ctx.ml_relax(start, calculator, track_sigma=False)
        ml.append(RelaxedEnergy(trace.energies[-1] / len(start), trace.converged, trace.steps))
        ref = references[ids[i]]
        engine.append(RelaxedEnergy(ref["energy_per_atom"], bool(ref["converged"]), int(ref["steps"])))
    # single-halide cells are the mixing-enthalpy references, not part of the error metrics
    is_end = [len(set(start.get_chemical_symbols()) & set(halides)) == 1 for start in starts]
    mixed = [k for k, i in enumerate(usable) if not is_end[i]]
    metrics = relaxation_test_metrics([ml[k] for k in mixed], [engine[k] for k in mixed]) if mixed else {}
    ends_ml: dict[str, dict[str, float]] = {}
    ends_engine: dict[str, dict[str, float]] = {}
    for k, i in enumerate(usable):
        if is_end[i]:
            phase, halide = starts[i].info.get("phase"), sorted(set(starts[i].get_chemical_symbols()) & set(halides))[0]
            ends_ml.setdefault(phase, {})[halide] = ml[k].energy_per_atom
            ends_engine.setdefault(phase, {})[halide] = engine[k].energy_per_atom
    mixed_structures = [starts[usable[k]] for k in mixed]
    dh_ml = mixing_enthalpies(mixed_structures, [ml[k].energy_per_atom for k in mixed], halides, ends_ml)
    dh_engine = mixing_enthalpies(mixed_structures, [engine[k].energy_per_atom for k in mixed], halides, ends_engine)
    mixing_rows = [{"structure_id": ids[usable[k]], "phase": starts[usable[k]].info.get("phase"),
                    "dh_ml_mev": dml, "dh_engine_mev": deng, "ml_converged": ml[k].converged}
                   for k, dml, deng in zip(mixed, dh_ml, dh_engine)]
    metrics.update({"model_version": version, "model_tag": tag, "n_missing_reference": len(ids) - len(usable),
                    "seconds": time.perf_counter() - began, "mixing_enthalpies": mixing_rows})
    return metrics
