"""ruff (configured in pyproject.toml: pyflakes, pycodestyle errors, import order, future
annotations, pytest style) finds nothing in the package, the tests and the benchmarks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    out = subprocess.run([str(ruff), "check", "perovflow", "tests", "benchmarks"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]
