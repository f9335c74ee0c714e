"""FireTasks of active learning, the relaxation test and pruning. Thin, like
:mod:`perovflow.fw.tasks`: the work is in :mod:`perovflow.fw.active_steps`, and each
iteration adds the next Fireworks itself (``FWAction(additions=...)``)."""
from __future__ import annotations

from fireworks import FWAction

from perovflow.fw.tasks import PerovflowTask, campaign_of, store_for


class EngineRelaxTask(PerovflowTask):
    """Relax one stored structure with the campaign's engine; every step becomes a labelled
    snapshot. ``purpose``: relax_test, stage1 or stage2."""

    required_params = ["key", "start_id", "reference_id", "fmax", "max_steps", "purpose"]
    optional_params = ["iteration"]

    def run_task(self, fw_spec):
        from perovflow.fw.active_steps import run_engine_relaxation

        outcome = run_engine_relaxation(
            store_for(fw_spec), campaign_of(fw_spec), self["key"], self["start_id"], self["reference_id"],
            float(self["fmax"]), int(self["max_steps"]), self["purpose"], self.get("iteration"))
        return FWAction(stored_data=outcome)


class RelaxationTestTask(PerovflowTask):
    """Iteration 0: the initial model on the relaxation test; then the first iteration."""

    def run_task(self, fw_spec):
        from perovflow.fw.active_steps import baseline_test
        from perovflow.fw.workflows import iteration_additions

        test = baseline_test(store_for(fw_spec), campaign_of(fw_spec))
        return FWAction(stored_data={"convergence": test.get("convergence"), "mae_mev": test.get("mae_mev")},
                        additions=iteration_additions(fw_spec, 1, "stage1"))


class ActiveIterationTask(PerovflowTask):
    """ML relaxations with the sigma trace, the stage's rule, and one DFT-relaxation
    Firework per acquisition plus the refit that waits for them."""

    required_params = ["iteration", "stage"]

    def run_task(self, fw_spec):
        from perovflow.fw.active_steps import explore
        from perovflow.fw.workflows import acquisition_additions

        iteration = int(self["iteration"])
        acquisitions = explore(store_for(fw_spec), campaign_of(fw_spec), iteration, self["stage"])
        return FWAction(stored_data={"acquisitions": len(acquisitions)},
                        additions=acquisition_additions(fw_spec, iteration, self["stage"], acquisitions))


class RefitTask(PerovflowTask):
    """Refit on everything labelled so far, run the relaxation test, and add the next
    iteration, the switch to stage 2, or pruning."""

    required_params = ["iteration"]

    def run_task(self, fw_spec):
        from perovflow.fw.active_steps import refit_and_decide
        from perovflow.fw.workflows import iteration_additions, prune_additions

        campaign = campaign_of(fw_spec)
        iteration = int(self["iteration"])
        decision = refit_and_decide(store_for(fw_spec), campaign, iteration)
        if decision == "prune":
            additions = prune_additions(fw_spec) if campaign.prune["enabled"] else None
        else:
            additions = iteration_additions(fw_spec, iteration + 1, decision)
        return FWAction(stored_data={"next_stage": decision}, additions=additions)


class PruneTask(PerovflowTask):
    """Prune the relaxation snapshots by k-means and fit and test the final model."""

    def run_task(self, fw_spec):
        from perovflow.fw.active_steps import prune_and_finish

        return FWAction(stored_data=prune_and_finish(store_for(fw_spec), campaign_of(fw_spec)))
