"""How a FireWorks fix is applied: on the FireWorks releases it was checked against, or
where its own check finds what it wraps; all or nothing; never failing the import."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from perovflow.fireworks.hook_warnings import warn_once

_MISSING = object()


class Changes:
    """The attributes a fix sets, so that a fix that fails half way can put them back."""

    def __init__(self) -> None:
        self._previous: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._previous.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, value)

    def undo(self) -> None:
        for owner, name, previous in reversed(self._previous):
            if previous is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, previous)
        self._previous.clear()


@dataclass(frozen=True)
class Fix:
    name: str
    module: str  # the FireWorks module it patches, right after that module is imported
    misfit: Callable[[ModuleType], str | None]  # why it does not fit a module, or None
    apply: Callable[[ModuleType, Changes], None]
    without: str  # what goes wrong when it is left out


def fireworks_version() -> str:
    return str(getattr(sys.modules.get("fireworks"), "__version__", "unknown"))


def apply_fix(fix: Fix, module: ModuleType, checked_versions: tuple[str, ...]) -> bool:
    """Apply ``fix`` to ``module``; on failure warn once and leave the module as it was."""
    version = fireworks_version()
    if version not in checked_versions:
        reason = fix.misfit(module)
        if reason is not None:
            warn_once(fix.name, f"perovflow left FireWorks {version} without its fix '{fix.name}': it was checked "
                                f"against FireWorks {', '.join(checked_versions)} and does not fit this one "
                                f"({reason}), so {fix.without}")
            return False
    changes = Changes()
    try:
        fix.apply(module, changes)
    except Exception as exc:
        changes.undo()
        warn_once(fix.name, f"perovflow's fix '{fix.name}' failed on FireWorks {version} ({type(exc).__name__}: "
                            f"{exc}); {fix.module} is left as it was, so {fix.without}")
        return False
    return True
