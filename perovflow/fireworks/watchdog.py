"""Noticing dead workers within minutes instead of hours.

FireWorks' rlaunch pings a running launch every ``PING_TIME_SECS`` (3,600 s) and a run
counts as lost after 4 hours, and only when someone runs ``lpad detect_lostruns``. A node
that dies on a cluster would hold its jobs for hours. perovflow's workers ping every
``PEROVFLOW_PING_SECS`` (20 s; :mod:`perovflow.fireworks.ping`) and
the watchdog (``perovflow watch``, and every ``perovflow run``) reruns the jobs whose launch
has not pinged for ``lost_after`` seconds (75 s) and releases workflow locks held longer
than that. With a check every 15 s, the job of a dead node runs again within 90 s.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LOST_AFTER_SECONDS = 75.0
CHECK_EVERY_SECONDS = 15.0


def lock_expired(holder: dict[str, Any] | None, lost_after: float, now: float) -> bool:
    """A lock is held for the moments of a check-out or completion; one held longer than
    ``lost_after`` belongs to a worker that died holding it (on any host)."""
    since = (holder or {}).get("since")
    return isinstance(since, (int, float)) and now - since > lost_after


@dataclass
class WatchReport:
    rerun: list[int] = field(default_factory=list)
    unlocked: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rerun or self.unlocked)

    def describe(self) -> str:
        parts = []
        if self.rerun:
            parts.append(f"{len(self.rerun)} job(s) of workers that stopped pinging set to run again "
                         f"(fw_id {', '.join(map(str, self.rerun))})")
        if self.unlocked:
            parts.append(f"released {len(self.unlocked)} workflow lock(s) held by a dead worker")
        return "; ".join(parts)


def campaign_query(campaign: str | None) -> dict[str, Any]:
    return {"spec.campaign.name": campaign if campaign else {"$exists": True}}


def check_once(lp, campaign: str | None = None, lost_after: float = LOST_AFTER_SECONDS) -> WatchReport:
    """Rerun the lost jobs of ``campaign`` (every perovflow campaign when None) and release
    expired workflow locks."""
    _, lost, _ = lp.detect_lostruns(expiration_secs=lost_after, rerun=True, query=campaign_query(campaign))
    now = time.time()
    from perovflow.fireworks.manager import release_locks  # FireWorks: not when `perovflow --help` reads the defaults

    unlocked = release_locks(lp, campaign, lambda holder: lock_expired(holder, lost_after, now))
    return WatchReport(rerun=sorted(lost), unlocked=unlocked)


class Watchdog:
    """``check_once`` at most every ``every`` seconds; call it as often as you like."""

    def __init__(self, lp, campaign: str | None = None, lost_after: float = LOST_AFTER_SECONDS,
                 every: float = CHECK_EVERY_SECONDS, report: Callable[[WatchReport], None] | None = None):
        self.lp, self.campaign, self.lost_after, self.every, self.report = lp, campaign, lost_after, every, report
        self._last = float("-inf")

    def __call__(self) -> WatchReport | None:
        if time.monotonic() - self._last < self.every:
            return None
        self._last = time.monotonic()
        found = check_once(self.lp, self.campaign, self.lost_after)
        if found and self.report is not None:
            self.report(found)
        return found
