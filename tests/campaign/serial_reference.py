"""The relaxation test and the exploration done serially in the test process, as one job did
them before they ran in batches, to compare with what a batched campaign stored."""
from __future__ import annotations

import math
from typing import Any

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.relaxation_test import evaluate_relaxation_test
from perovflow.selection.acquisition import stage1_acquisitions, stage2_acquisitions
from perovflow.structures import generate_relaxation_starts
from perovflow.structures.identity import structure_id

TIMINGS = ("seconds",)


def serial_exploration(ctx: CampaignContext, record: dict[str, Any]) -> dict[str, Any]:
    """ML relaxations of iteration ``record``'s starts (generated afresh, one after the other)
    and the stage rule's acquisitions, the snapshots named by their content hash."""
    settings, active = ctx.settings, ctx.settings.active
    iteration, stage = record["iteration"], record["stage"]
    calculator, _ = ctx.calculator_and_record(record["model_tag"])
    starts = generate_relaxation_starts(ctx.system, phases=tuple(settings.phases), per_phase=active.starts_per_phase,
                                        seed=active.seed * 1000 + iteration)
    traces: dict[str, list] = {phase: [] for phase in settings.phases}
    relaxed: dict[str, list[dict]] = {phase: [] for phase in settings.phases}
    for atoms in starts:
        phase = atoms.info["phase"]
        trace = ctx.ml_relax(atoms, calculator, track_sigma=True)
        traces[phase].append(trace)
        relaxed[phase].append({"start_id": structure_id(atoms), "steps": trace.steps, "converged": trace.converged,
                               "sigma_mev": [float(s) for s in trace.sigmas],
                               "energy_per_atom": trace.energies[-1] / len(atoms)})
    thresholds = record["thresholds_mev"]
    if stage == "stage1":
        chosen, thresholds_next = stage1_acquisitions({p: [t.sigmas for t in ts] for p, ts in traces.items()},
                                                      thresholds, per_phase=active.per_phase,
                                                      drop=active.threshold_drop)
    else:
        chosen = stage2_acquisitions({p: [t.sigmas[-1] for t in ts] for p, ts in traces.items()},
                                     per_phase=active.per_phase,
                                     final_steps={p: [t.steps for t in ts] for p, ts in traces.items()},
                                     converged={p: [t.converged for t in ts] for p, ts in traces.items()},
                                     fill_unconverged=True)
        thresholds_next = thresholds
    acquisitions = []
    for choice in chosen:
        snapshot = traces[choice.phase][choice.index].structures[choice.step]
        acquisitions.append({"key": f"al{iteration}:{choice.phase}:{choice.index}", "phase": choice.phase,
                             "index": choice.index, "step": choice.step, "sigma_mev": choice.sigma_mev,
                             "start_id": structure_id(snapshot),
                             "reference_id": relaxed[choice.phase][choice.index]["start_id"]})
    return {"ml_relaxations": relaxed, "acquisitions": acquisitions, "thresholds_next": thresholds_next}


def serial_relaxation_test(ctx: CampaignContext, tag: str) -> dict[str, Any]:
    return without_timings(evaluate_relaxation_test(ctx, tag))


def without_timings(test: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in test.items() if key not in TIMINGS}


def same(a: Any, b: Any, rel: float = 0.0) -> bool:
    """Equal, floats within ``rel`` (0: bit for bit)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rel) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and not isinstance(a, bool):
        return a == b if rel == 0 else math.isclose(a, b, rel_tol=rel, abs_tol=rel)
    return a == b


def check_against_serial(ctx: CampaignContext, rel: float = 0.0) -> dict[str, int]:
    """Every stored relaxation test and exploration equals the serial one (floats within
    ``rel``); returns how many of each were compared."""
    compared = {"tests": 0, "explorations": 0}
    for record in ctx.store.iterations():
        test = record.get("relaxation_test")
        if test:
            serial = serial_relaxation_test(ctx, test["model_tag"])
            stored = without_timings(test)
            assert same(stored, serial, rel), (record["iteration"], stored, serial)
            compared["tests"] += 1
        if record.get("acquisitions") is not None:
            serial = serial_exploration(ctx, record)
            assert same(record["ml_relaxations"], serial["ml_relaxations"], rel), record["iteration"]
            stored = [{key: a[key] for key in serial["acquisitions"][0]} for a in record["acquisitions"]] \
                if serial["acquisitions"] else record["acquisitions"]
            assert same(stored, serial["acquisitions"], rel), (record["iteration"], stored, serial["acquisitions"])
            assert same(record["thresholds_next"], serial["thresholds_next"], rel)
            compared["explorations"] += 1
    return compared
