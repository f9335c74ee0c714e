"""What runs next: a plain value that a campaign step returns, with no FireWorks in it.

A step (``perovflow.campaign.steps.STEPS``) returns a :class:`Next`: the jobs to add and a
small record of what it did. The FireWorks adapter turns it into an ``FWAction`` with new
Fireworks; the local runner runs the jobs in-process. Jobs name the step they run and its
arguments (plain JSON), so both drivers run exactly the same code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Job:
    """One step to run. ``key`` is unique within its :class:`Next`; ``after`` lists the keys
    it waits for; ``tolerate_failed`` lets it run when some of those failed for good (a fit
    goes on without the labels that failed); ``optional``: the campaign can finish without
    this job (a label, an engine relaxation), so its failure does not fail the campaign."""

    key: str
    step: str
    args: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    after: tuple[str, ...] = ()
    tolerate_failed: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Next:
    jobs: tuple[Job, ...] = ()
    record: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = [job.key for job in self.jobs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"job keys must be unique within one Next: {keys}")
        known = set(keys)
        for job in self.jobs:
            unknown = set(job.after) - known
            if unknown:
                raise ValueError(f"job {job.key!r} waits for unknown job(s) {sorted(unknown)}")


def waiting_for(job: Job, parents: list[Job]) -> Job:
    """``job`` waiting for all of ``parents`` as well."""
    return Job(job.key, job.step, job.args, job.name, (*job.after, *(p.key for p in parents)), job.tolerate_failed,
               job.optional)


def fan_in(parallel: list[Job], then: Job, record: dict[str, Any] | None = None) -> Next:
    """Jobs that run in parallel and one job that waits for all of them."""
    return Next(jobs=(*parallel, waiting_for(then, parallel)), record=record or {})
