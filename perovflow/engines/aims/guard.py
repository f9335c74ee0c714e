"""The one place that decides whether an edit of ``control.in`` keeps the physics.

Corrections may only touch numerical aids (mixing, iteration limits, step lengths,
smearing, basis thresholds, ...). Anything else (functional, relativistic treatment,
species blocks, k-grid, spin, charge, or a keyword this module does not know) would
silently change the physics of a training set, so it fails with a clear reason.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from perovflow import files
from perovflow.engines.base import EngineError

NUMERICAL_KEYS = frozenset(
    {
        "sc_iter_limit",
        "sc_init_iter",
        "charge_mix_param",
        "mixer",
        "n_max_pulay",
        "ini_linear_mixing",
        "preconditioner",
        "occupation_type",
        "harmonic_length_scale",
        "basis_threshold",
        "override_illconditioning",
        "check_cpu_consistency",
        "max_relaxation_steps",
    }
)


def _strip(line: str) -> str:
    return line.split("#", 1)[0].strip()


def split_control(text: str) -> tuple[dict[str, list[str]], str]:
    """Keyword -> values of the settings part, and the species blocks as normalised text."""
    keywords: dict[str, list[str]] = defaultdict(list)
    species: list[str] = []
    in_species = False
    for raw in text.splitlines():
        line = _strip(raw)
        if not line:
            continue
        words = line.split()
        if words[0] == "species":
            in_species = True
        if in_species:
            species.append(" ".join(words))
        else:
            keywords[words[0]].append(" ".join(words[1:]))
    return dict(keywords), "\n".join(species)


def control_changes(before: str, after: str) -> list[dict]:
    """Every keyword whose values differ between two ``control.in`` texts."""
    kw_before, species_before = split_control(before)
    kw_after, species_after = split_control(after)
    changes = []
    for key in sorted(set(kw_before) | set(kw_after)):
        old, new = kw_before.get(key), kw_after.get(key)
        if old != new:
            changes.append({"key": key, "old": _single(old), "new": _single(new)})
    if species_before != species_after:
        changes.append({"key": "species", "old": "species blocks", "new": "edited species blocks"})
    return changes


def _single(values: list[str] | None) -> str | list[str] | None:
    if values is None:
        return None
    return values[0] if len(values) == 1 else values


def check_numerical_only(before: str, after: str) -> list[dict]:
    """The changes from ``before`` to ``after``; EngineError if any is not a numerical aid."""
    changes = control_changes(before, after)
    forbidden = [c for c in changes if c["key"] not in NUMERICAL_KEYS]
    if forbidden:
        described = "; ".join(f"{c['key']}: {c['old']!r} -> {c['new']!r}" for c in forbidden)
        raise EngineError(
            "refused a control.in correction that would change the physics of the training set "
            f"({described}); only numerical aids may change: {', '.join(sorted(NUMERICAL_KEYS))}",
            [{"refused": forbidden}],
        )
    return changes


def edited_control(text: str, changes: dict[str, str | None]) -> str:
    """``text`` with each keyword set to a value (None removes it); species blocks kept."""
    lines = text.splitlines()
    first_species = next(
        (i for i, raw in enumerate(lines) if _strip(raw).split()[:1] == ["species"]), len(lines)
    )
    head, tail = lines[:first_species], lines[first_species:]
    for key, value in changes.items():
        positions = [i for i, raw in enumerate(head) if _strip(raw).split()[:1] == [key]]
        new_line = None if value is None else f"{key:<28s}{value}"
        if positions:
            if new_line is None:
                head = [raw for i, raw in enumerate(head) if i not in positions]
            else:
                head[positions[0]] = new_line
                head = [raw for i, raw in enumerate(head) if i not in positions[1:]]
        elif new_line is not None:
            # after the last keyword, not among the comment lines that open a species file
            last = max((i for i, raw in enumerate(head) if _strip(raw)), default=len(head) - 1)
            head.insert(last + 1, new_line)
    return "\n".join(head + tail) + "\n"


def edit_control(directory: str | os.PathLike, changes: dict[str, str | None]) -> list[dict]:
    """Apply numerical changes to ``<directory>/control.in``; returns the recorded actions.

    Raises EngineError (and leaves the file untouched) when a change is not a numerical aid.
    """
    path = Path(directory) / "control.in"
    before = path.read_text()
    after = edited_control(before, changes)
    recorded = check_numerical_only(before, after)
    files.write_text_atomic(path, after)
    return [{"file": "control.in", **c} for c in recorded]


def control_value(directory: str | os.PathLike, key: str) -> str | None:
    """The (first) value of a keyword in ``<directory>/control.in``, or None."""
    keywords, _ = split_control((Path(directory) / "control.in").read_text())
    values = keywords.get(key)
    return values[0] if values else None
