"""The quick runs the reproduction tests check: ``perovflow reproduce NAME --quick`` through the
real CLI entry, each into its own folder."""
from __future__ import annotations

from pathlib import Path

from perovflow.cli import main


def quick_runs(tmp_path_factory, names, shared_cache: bool = False) -> dict[str, tuple[int, Path]]:
    """Exit code and output folder of each run; ``shared_cache``: one label cache for all
    (fig5 reuses fig4's oracle trajectories)."""
    cache = ["--cache", str(tmp_path_factory.mktemp("cache"))] if shared_cache else []
    results = {}
    for name in names:
        out = tmp_path_factory.mktemp(name)
        results[name] = (main(["reproduce", name, "--quick", "-o", str(out), *cache]), out)
    return results
