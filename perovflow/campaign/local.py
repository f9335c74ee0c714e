"""Run a whole campaign in this process: the same steps as on FireWorks workers, in the
order their dependencies allow, one at a time. For tests and quick looks; the
distributed run is :mod:`perovflow.fireworks`."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.initial import first_jobs
from perovflow.campaign.next import Job, Next
from perovflow.campaign.steps import run_step
from perovflow.settings import CampaignSettings
from perovflow.store.store import Store


@dataclass
class JobOutcome:
    name: str
    step: str
    state: str  # completed, failed, skipped (a job it waited for failed)
    record: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass
class LocalRun:
    outcomes: list[JobOutcome] = field(default_factory=list)

    def states(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
        return counts

    def by_step(self, step: str) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.step == step]


def run_local(settings: CampaignSettings, store: Store,
              progress: Callable[[JobOutcome], None] | None = None) -> LocalRun:
    """Run every job of the campaign until none is left. A job that raises is recorded as
    failed with its reason; jobs waiting for it run only when they tolerate failures
    (like FireWorks' ``_allow_fizzled_parents``), else they are skipped."""
    ctx = CampaignContext(settings, store)
    run = LocalRun()
    # each queued job with the unique ids of itself ("_self") and of the jobs it waits for
    pending: deque[tuple[Job, dict[str, str]]] = deque()

    def enqueue(nxt: Next) -> None:
        ids = {job.key: f"{id(nxt)}:{job.key}" for job in nxt.jobs}
        for job in nxt.jobs:
            pending.append((job, {key: ids[key] for key in job.after} | {"_self": ids[job.key]}))

    enqueue(first_jobs(settings))
    states: dict[str, str] = {}
    while pending:
        job, ids = pending.popleft()
        waits = [states.get(ids[key]) for key in job.after]
        if any(state is None for state in waits):
            pending.append((job, ids))  # a job it waits for has not run yet
            continue
        if any(state != "completed" for state in waits) and not job.tolerate_failed:
            outcome = JobOutcome(job.name, job.step, "skipped", reason="a job it waits for failed")
        else:
            try:
                nxt = run_step(ctx, job.step, job.args)
            except Exception as exc:  # a failed job is recorded, as FireWorks would fizzle it
                outcome = JobOutcome(job.name, job.step, "failed", reason=f"{type(exc).__name__}: {exc}")
            else:
                outcome = JobOutcome(job.name, job.step, "completed", record=dict(nxt.record))
                enqueue(nxt)
        states[ids["_self"]] = outcome.state
        run.outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return run
