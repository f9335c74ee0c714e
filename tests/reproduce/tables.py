"""The check every reproduction test makes of a NAME.md against its NAME.json: the Markdown
table shows the JSON's rows, its 'ours' cell shows the numbers its rule uses, and the verdict
follows from them both by the rule as the test file writes it out again and by
perovflow.reproduce.verdicts."""
from __future__ import annotations

import math
import re
from typing import Callable

from perovflow.reproduce.verdicts import judge

NUMBER = re.compile(r"-?\d[\d,]*\.?\d*(?:e-?\d+)?|-?inf")


def numbers(text: str) -> list[float]:
    return [float(t.replace(",", "")) for t in NUMBER.findall(text)]


def table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert [c.strip() for c in lines[0].strip("|").split("|")] == ["quantity", "paper", "ours (chgnet)", "verdict"]
    return [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines[1:]]


def check_table_shows_the_json(record: dict, markdown: str, expected: Callable[[str, dict], str],
                               shown: Callable[[str, dict], list[float]], min_rows: int = 1) -> None:
    """``expected(rule, inputs)`` is the verdict by the rule written out again,
    ``shown(rule, inputs)`` the numbers the 'ours' cell must show."""
    rows = table_rows(markdown)
    assert len(rows) == len(record["table"]) >= min_rows
    for cells, r in zip(rows, record["table"]):
        assert cells == [r["quantity"], r["paper"], r["ours"], f"{r['verdict']}: {r['reason']}"]
        found = numbers(cells[2])
        for value in shown(r["rule"], r["inputs"]):
            assert any(value == s or math.isclose(value, s, rel_tol=1e-9, abs_tol=1e-9) for s in found), \
                (value, cells[2])
        assert r["verdict"] == expected(r["rule"], r["inputs"])
        assert (r["verdict"], r["reason"]) == judge(r["rule"], r["inputs"])
