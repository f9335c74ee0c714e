"""Fig. 7 of Homm, Laakso, Rinke 2025: the relaxation test during two-stage active learning
(CsSn(Cl/Br/I)3). The initial MBTR-KRR model (single points) and every refit relax the
same starts; the share that converges and the MAE of their relaxed energies against the
oracle's relaxations, per iteration, and the mixing enthalpies of the initial and the final
model against the oracle's over the composition triangle.

The loop is the campaign's (perovflow.campaign.active_learning) without a store: the same
starts, ML relaxations, acquisition rules (:mod:`perovflow.selection.acquisition`) and
test numbers (:mod:`perovflow.models.relaxation_test`); oracle relaxations are cached.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from perovflow.models.krr import KernelRidgeEnergy
from perovflow.models.relaxation_test import (
    RelaxedEnergy,
    end_member_starts,
    mixing_enthalpies,
    relaxation_test_metrics,
)
from perovflow.reproduce import data as data_module
from perovflow.reproduce import learning
from perovflow.reproduce.relaxations import CachedRelaxations, ml_relaxation
from perovflow.reproduce.verdicts import row
from perovflow.selection.acquisition import stage1_acquisitions, stage2_acquisitions
from perovflow.settings import TABLE_S1, ActiveSettings
from perovflow.structures import PHASES, PerovskiteSystem, generate_relaxation_starts

PRESET = "cssn_clbri3"
PAPER = {"initial_convergence": 0.88, "initial_mae": 4.7, "final_convergence": 1.0, "final_mae": 0.45,
         "test_starts": 100, "initial_training": 16000, "max_steps": 200}
TEST_SEED = 7919  # the campaign's offset for relaxation-test starts
STAGE2_FMAX = 1e-6  # stage 2: a fixed number of oracle steps (an fmax no relaxation reaches)


@dataclass(frozen=True)
class Protocol:
    pool_compositions: int  # initial single points: one per composition and phase
    test_per_phase: int
    starts_per_phase: int  # ML relaxations per phase and iteration
    per_phase: int  # acquired trajectories per phase and iteration
    stage1_iterations: int
    stage2_iterations: int
    ml_max_steps: int
    test_fmax: float  # the oracle's relaxation-test fmax (eV/Å)
    test_max_steps: int
    dft_max_steps: int  # stage-1 oracle continuation step limit
    stage2_dft_steps: int
    phases: tuple[str, ...] = PHASES


ACTIVE = ActiveSettings()
FULL = Protocol(150, 5, 2, 1, 3, 2, ACTIVE.ml_max_steps, 0.02, 200, 40, ACTIVE.stage2_dft_steps)
QUICK = Protocol(30, 1, 1, 1, 1, 0, 40, 0.05, 40, 6, 3, ("Pm-3m", "I4/mcm"))


def run(quick: bool, oracle: str, seeds: int | None, out: Path, cache: Path) -> dict:
    """One active-learning run (the paper shows one): ``seeds`` is not used."""
    from perovflow.reproduce.fig7_plots import fig7_figure

    t0 = time.perf_counter()
    p = QUICK if quick else FULL
    x = ("Cl", "Br", "I")
    system = PerovskiteSystem(a="Cs", b="Sn", x=x)
    pool_spec = data_module.DataSpec("Cs", "Sn", x, "pool", 1, 0, p.pool_compositions)
    pool = data_module.load(pool_spec, PRESET, oracle, cache)
    descriptor = data_module.MBTRDescriptor(data_module.descriptor_settings(PRESET, pool_spec.species))
    hyper = learning.hyperparameters(TABLE_S1[PRESET]["model"])
    engine = data_module.make_oracle(oracle)
    relaxations = CachedRelaxations(engine, cache)

    starts = generate_relaxation_starts(system, phases=p.phases, per_phase=p.test_per_phase, seed=TEST_SEED)
    ends = end_member_starts(system, p.phases)
    tests = [*starts, *ends]
    print(f"fig7: {oracle} relaxes {len(tests)} test structures ({len(starts)} starts, {len(ends)} end members)",
          flush=True)
    reference = [relaxations.relax(a, a, p.test_fmax, p.test_max_steps) for a in tests]
    reference_energy = [RelaxedEnergy(r.energy_per_atom, r.converged, r.steps) for r in reference]

    features, energies = [pool.features], [pool.energy]
    model = KernelRidgeEnergy(hyper).fit(np.vstack(features), np.concatenate(energies))
    history = [_test(model, descriptor, tests, len(starts), reference_energy, x, p, 0, "initial",
                     len(pool.energy), 0)]
    thresholds = {phase: ACTIVE.threshold_mev for phase in dict.fromkeys(a.info["phase"] for a in starts)}
    added = 0
    stages = ["stage1"] * p.stage1_iterations + ["stage2"] * p.stage2_iterations
    for iteration, stage in enumerate(stages, start=1):
        explore = generate_relaxation_starts(system, phases=p.phases, per_phase=p.starts_per_phase,
                                             seed=1000 + iteration)
        traces: dict[str, list] = {phase: [] for phase in thresholds}
        for atoms in explore:
            traces[atoms.info["phase"]].append(ml_relaxation(atoms, model, descriptor, p.ml_max_steps, True))
        if stage == "stage1":
            chosen, thresholds = stage1_acquisitions({ph: [t.sigmas for t in ts] for ph, ts in traces.items()},
                                                     thresholds, per_phase=p.per_phase, drop=ACTIVE.threshold_drop)
            fmax, steps = ACTIVE.dft_fmax, p.dft_max_steps
        else:
            chosen = stage2_acquisitions({ph: [t.sigmas[-1] for t in ts] for ph, ts in traces.items()},
                                         per_phase=p.per_phase,
                                         final_steps={ph: [t.steps for t in ts] for ph, ts in traces.items()},
                                         converged={ph: [t.converged for t in ts] for ph, ts in traces.items()})
            fmax, steps = STAGE2_FMAX, p.stage2_dft_steps - 1
        by_phase = {ph: [a for a in explore if a.info["phase"] == ph] for ph in traces}
        for choice in chosen:
            origin = by_phase[choice.phase][choice.index]
            snapshot = traces[choice.phase][choice.index].structures[choice.step]
            snapshot.set_constraint()
            snapshot.info["phase"] = choice.phase
            relaxed = relaxations.relax(snapshot, origin, fmax, steps)
            features.append(descriptor.create(relaxed.structures))
            energies.append(np.asarray(relaxed.energies_per_atom))
            added += len(relaxed.structures)
        model = KernelRidgeEnergy(hyper).fit(np.vstack(features), np.concatenate(energies))
        history.append(_test(model, descriptor, tests, len(starts), reference_energy, x, p, iteration, stage,
                             int(sum(len(e) for e in energies)), added))
        print(f"fig7 iteration {iteration} ({stage}): {len(chosen)} trajectories, {added} snapshots added; "
              f"converged {100 * history[-1]['convergence']:.0f} %, MAE {history[-1]['mae_mev']}", flush=True)

    table = _table(history, oracle)
    figure = fig7_figure(history, x, out / "fig7.png", oracle,
                         f"Fig. 7 (Homm, Laakso, Rinke 2025) reproduced: CsSn(Cl/Br/I)3, {len(starts)} test relaxations, "
                         f"initial model on {len(pool.energy)} single points")
    return {
        "name": "fig7", "title": "Fig. 7 of Homm, Laakso, Rinke 2025: relaxation test during active learning",
        "oracle": oracle, "oracle_is_dft": False, "quick": quick,
        "stand_in": ("Labels and reference relaxations come from a stand-in oracle ({oracle}), not DFT: the paper's "
                     "absolute errors are not expected here; what can be compared is whether active learning "
                     "makes the ML relaxations converge and their energies approach the oracle's."),
        "protocol": (f"CsSn(Cl/Br/I)3, phases {', '.join(p.phases)}. Initial MBTR-KRR (CsSn(Cl/Br/I)3 column of Table S1) on "
                     f"{len(pool.energy)} {oracle} single points ({p.pool_compositions} compositions x 4 phases). "
                     f"Relaxation test: {len(starts)} starts ({p.test_per_phase} per phase, no random deviations, "
                     f"halides and cell in the phase's symmetry) relaxed by {oracle} (fmax {p.test_fmax:g} eV/Å, "
                     f"<= {p.test_max_steps} steps) and by every model (fmax {ACTIVE.ml_fmax:g} eV/Å, <= "
                     f"{p.ml_max_steps} steps); mixing enthalpies from each method's own {len(ends)} relaxed "
                     f"single-halide end members. Active learning: {p.stage1_iterations} stage-1 and "
                     f"{p.stage2_iterations} stage-2 iterations, {p.starts_per_phase} ML relaxations and "
                     f"{p.per_phase} acquisition(s) per phase each (stage 1: sigma threshold "
                     f"{ACTIVE.threshold_mev:g} meV/atom, oracle continues to {ACTIVE.dft_fmax:g} eV/Å within "
                     f"{p.dft_max_steps} steps; stage 2: {p.stage2_dft_steps} oracle steps from the highest-sigma "
                     f"relaxed structures). The paper: 16,000 DFT single points, 100 test starts, 25 ML relaxations "
                     f"and 2 acquisitions per phase and iteration, until the MAE levelled off."),
        "protocol_settings": asdict(p), "paper": PAPER, "history": history, "table": table,
        "notes": _unconverged_notes(history, p),
        "figures": [figure.name], "relabelled": pool.relabelled + relaxations.new_calls,
        "label_seconds": pool.label_seconds, "oracle_relaxations_run": relaxations.new_relaxations,
        "wall_seconds": time.perf_counter() - t0,
    }


def _test(model, descriptor, tests, n_starts, reference, halides, p: Protocol, iteration: int, stage: str,
          n_train: int, added: int) -> dict:
    """The relaxation test of one model: metrics over the mixed starts, mixing enthalpies."""
    began = time.perf_counter()
    ml, final = [], []
    for atoms in tests:
        trace = ml_relaxation(atoms, model, descriptor, p.ml_max_steps, False)
        ml.append(RelaxedEnergy(trace.energies[-1] / len(atoms), trace.converged, trace.steps))
        final.append((trace.final_fmax, trace.max_forces[-1]))
    metrics = relaxation_test_metrics(ml[:n_starts], reference[:n_starts])
    ends_ml: dict[str, dict[str, float]] = {}
    ends_oracle: dict[str, dict[str, float]] = {}
    for atoms, m, r in zip(tests[n_starts:], ml[n_starts:], reference[n_starts:]):
        ends_ml.setdefault(atoms.info["phase"], {})[atoms.info["end_member"]] = m.energy_per_atom
        ends_oracle.setdefault(atoms.info["phase"], {})[atoms.info["end_member"]] = r.energy_per_atom
    mixed = tests[:n_starts]
    dh_ml = mixing_enthalpies(mixed, [m.energy_per_atom for m in ml[:n_starts]], halides, ends_ml)
    dh_oracle = mixing_enthalpies(mixed, [r.energy_per_atom for r in reference[:n_starts]], halides, ends_oracle)
    rows = [{"phase": a.info["phase"], "fractions": [a.get_chemical_symbols().count(h) / 24 for h in halides],
             "dh_ml_mev": dml, "dh_oracle_mev": dor, "ml_converged": m.converged,
             "oracle_converged": r.converged, "ml_steps": m.steps, "ml_final_fmax": f[0],
             "ml_final_atom_force": f[1]}
            for a, dml, dor, m, r, f in zip(mixed, dh_ml, dh_oracle, ml, reference, final)]
    stopped = [r["ml_final_fmax"] for r in rows if not r["ml_converged"]]
    stopped_atoms = [r["ml_final_atom_force"] for r in rows if not r["ml_converged"]]
    converged = [r for r in rows if r["ml_converged"] and r["dh_ml_mev"] is not None and r["dh_oracle_mev"] is not None]
    dh_mae = float(np.mean([abs(r["dh_ml_mev"] - r["dh_oracle_mev"]) for r in converged])) if converged else None
    return {"iteration": iteration, "stage": stage, "n_train": n_train, "snapshots_added": added,
            **metrics, "dh_mae_mev": dh_mae, "ends_converged": sum(m.converged for m in ml[n_starts:]),
            # why the others did not converge: steps ran out close to fmax, or far from it
            "not_converged_within_test_fmax": sum(f <= p.test_fmax for f in stopped),
            "not_converged_final_fmax": sorted(stopped),
            "not_converged_atoms_within_fmax": sum(f <= ACTIVE.ml_fmax for f in stopped_atoms),
            "mixing_enthalpies": rows, "seconds": time.perf_counter() - began}


def _unconverged_notes(history: list[dict], p: Protocol) -> list[str]:
    """How far from convergence the ML relaxations that did not converge stopped."""
    notes = []
    for h in history:
        stopped = h["not_converged_final_fmax"]
        if not stopped:
            continue
        notes.append(f"model {h['iteration']} ({h['stage']}): {len(stopped)} of {h['n']} ML relaxations did not "
                     f"reach {ACTIVE.ml_fmax:g} eV/Å in {p.ml_max_steps} steps; {h['not_converged_within_test_fmax']} "
                     f"of them ended within the oracle's {p.test_fmax:g} eV/Å, "
                     f"{h['not_converged_atoms_within_fmax']} had their atoms converged (the cell was not); "
                     f"final max forces (atoms and cell) {', '.join(f'{f:.3g}' for f in stopped)} eV/Å")
    return notes


def _table(history: list[dict], oracle: str) -> list[dict]:
    first, last = history[0], history[-1]
    n_first, n_last = first["n_train"], last["n_train"]
    dft = {"oracle": oracle, "oracle_is_dft": False, "paper_n": PAPER["initial_training"]}

    def mae(h):
        return "none converged" if h["mae_mev"] is None else f"{h['mae_mev']:.3g}"

    rows = [
        row("initial model: share of ML relaxations converged (%)", "88",
            f"{100 * first['convergence']:.3g} ({first['n_converged']} of {first['n']}, {n_first:,} training)",
            "absolute", {"ours": 100 * first["convergence"], "paper": 88.0, "ours_n": n_first, **dft}),
        row("final model: share of ML relaxations converged (%)", "100",
            f"{100 * last['convergence']:.3g} ({last['n_converged']} of {last['n']})", "all_converged",
            {"share": last["convergence"]}),
    ]
    if first["mae_mev"] is not None:
        rows.append(row("initial model: relaxed-energy MAE (meV/atom)", "4.7", mae(first), "absolute",
                        {"ours": first["mae_mev"], "paper": 4.7, "ours_n": n_first, **dft}))
    if last["mae_mev"] is not None:
        rows.append(row("final model: relaxed-energy MAE (meV/atom)", "0.45", mae(last), "absolute",
                        {"ours": last["mae_mev"], "paper": 0.45, "ours_n": n_last, **dft}))
    rows.append(row("active learning lowers the relaxed-energy MAE (final / initial)", "0.45 / 4.7 = 0.096",
                    f"{mae(last)} / {mae(first)} after {len(history) - 1} iterations", "drops",
                    {"initial": first["mae_mev"], "final": last["mae_mev"]}))
    dh = lambda h: "none" if h["dh_mae_mev"] is None else f"{h['dh_mae_mev']:.3g}"  # noqa: E731
    rows.append(row("mixing enthalpies closer to the oracle's after active learning (MAE final / initial)",
                    "closer (Fig. 7a, b)", f"{dh(last)} / {dh(first)} meV/atom", "drops",
                    {"initial": first["dh_mae_mev"], "final": last["dh_mae_mev"]}))
    return rows
