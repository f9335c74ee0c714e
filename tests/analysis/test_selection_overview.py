"""The initial selection against its pool, read from the database (SecantusDB over TCP)."""
from __future__ import annotations

import pytest

from perovflow.analysis.selection import selection_overview
from perovflow.store.store import Store
from perovflow.structures import PerovskiteSystem, generate_pool


def test_overview_marks_the_batches_and_reads_phase_and_halide_fraction(mongo_db):
    store = Store(mongo_db, "overview")
    store.ensure_indexes()
    assert selection_overview(mongo_db, "overview") is None  # nothing selected yet
    pool = generate_pool(PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br")), phases=["Pm-3m", "Pnma"],
                         per_composition=1, seed=4)
    ids = store.add_structures(pool, role="pool")
    cluster_of = {sid: k % 7 for k, sid in enumerate(ids)}
    batches = [ids[0:7], ids[7:14]]
    store.save_selection("initial", {"method": "constrained", "clusters": 7, "cluster_of": cluster_of,
                                     "batches": batches})

    overview = selection_overview(mongo_db, "overview")
    assert overview["halide"] == "Cl"
    assert overview["cluster_sizes"] == sorted(list(cluster_of.values()).count(k) for k in range(7))
    rows = overview["structures"]
    assert len(rows) == len(pool)
    assert {r["structure_id"] for r in rows if r["selected"]} == set(batches[0] + batches[1])
    expected = {(a.info["phase"], round(a.get_chemical_symbols().count("Cl") / 24, 9)) for a in pool}
    assert {(r["phase"], round(r["fraction"], 9)) for r in rows} == expected
    assert min(r["fraction"] for r in rows) == pytest.approx(0.0) and max(r["fraction"] for r in rows) == pytest.approx(1.0)


def test_status_shows_the_clustering_facts(mongo_db):
    from perovflow.analysis.summary import format_summary, summary

    store = Store(mongo_db, "status-selection")
    store.ensure_indexes()
    text = format_summary(summary(mongo_db, "status-selection"))
    assert "selection:" not in text  # nothing selected yet
    store.save_selection("initial", {"method": "constrained", "clusters": 3, "objective": 1.25, "sizes_min": 2,
                                     "sizes_max": 4, "n_iter": 5, "cluster_of": {"a": 0, "b": 1, "c": 2},
                                     "batches": [["a", "b", "c"], ["d", "e"]]})
    text = format_summary(summary(mongo_db, "status-selection"))
    assert "selection:  constrained, 3 clusters of 2-4, objective 1.25; 2 batches, 5 structures" in text
