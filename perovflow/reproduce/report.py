"""Writes a reproduction's JSON (every number) and its Markdown table."""
from __future__ import annotations

import json
from pathlib import Path

from perovflow.reproduce.verdicts import RULE_TEXT

STAND_IN = ("Labels come from a stand-in oracle ({oracle}), not DFT: the paper's absolute errors are "
            "not expected here; what can be compared is how selection schemes rank and what they save.")


def markdown(record: dict) -> str:
    oracle = record["oracle"]
    lines = [f"# {record['title']}", "", record.get("stand_in", STAND_IN).format(oracle=oracle), "", record["protocol"], "",
             f"| quantity | paper | ours ({oracle}) | verdict |", "|---|---|---|---|"]
    for r in record["table"]:
        lines.append(f"| {r['quantity']} | {r['paper']} | {r['ours']} | {r['verdict']}: {r['reason']} |")
    if record.get("notes"):
        lines += ["", "Notes:"] + [f"- {note}" for note in record["notes"]]
    lines += ["", "Rules:"]
    for rule in sorted({r["rule"] for r in record["table"]}):
        lines.append(f"- {rule}: {RULE_TEXT[rule]}")
    lines += ["", f"Wall time: {record['wall_seconds']:.0f} s ({record['relabelled']} structures labelled "
              f"in this run, the rest from the cache). Figures: {', '.join(record['figures'])}.", ""]
    return "\n".join(lines)


def write(record: dict, out: Path, name: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{name}.json"
    md_path = out / f"{name}.md"
    json_path.write_text(json.dumps(record, indent=2, allow_nan=True) + "\n")
    md_path.write_text(markdown(record))
    return json_path, md_path
