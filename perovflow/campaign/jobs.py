"""The jobs a campaign adds while it runs, built in one place so that every step that
adds one (and the tests) names, spells and links it the same way."""
from __future__ import annotations

from perovflow.campaign.next import Job, Next, fan_in
from perovflow.campaign.records import RelaxationRequest
from perovflow.settings import CampaignSettings


def relaxation_job(key: str, request: RelaxationRequest, name: str) -> Job:
    return Job(key, "engine_relax", request.as_args(), name=name, optional=True)


def iteration_job(settings: CampaignSettings, iteration: int, stage: str) -> Job:
    return Job("iteration", "iteration", {"iteration": iteration, "stage": stage},
               name=f"{settings.name}: AL iteration {iteration} ({stage})")


def refit_after(settings: CampaignSettings, relaxations: list[Job], iteration: int, stage: str) -> Next:
    """The refit that waits for an iteration's engine relaxations (one that fails for good
    does not stop it)."""
    refit = Job("refit", "refit", {"iteration": iteration}, name=f"{settings.name}: refit after iteration "
                f"{iteration}", tolerate_failed=True)
    return fan_in(relaxations, refit)


def prune_job(settings: CampaignSettings) -> Job:
    return Job("prune", "prune", name=f"{settings.name}: prune and final model")
