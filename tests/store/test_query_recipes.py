"""Every code block of docs/queries.md, run as written against the database of a small
finished campaign (CsPb(Br/I)3 Pnma, CHGNet labels, both active-learning stages and
pruning) to which a few tblite labels were added (two of Pm-3m structures, three that fail),
and checked against values computed here another way. The blocks are read from the page, so
the page and the test cannot drift apart."""
from __future__ import annotations

import re
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from pymongo import MongoClient

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.initial import label_structures
from perovflow.campaign.local import run_local
from perovflow.engines import make_engine
from perovflow.settings import parse_campaign
from perovflow.store.store import Store
from perovflow.structures import generate_test_set
from tests.campaign.helpers import ACTIVE_SHORT, small_campaign

PAGE = Path(__file__).resolve().parents[2] / "docs" / "queries.md"
CAMPAIGN = "demo"  # the name the page's first block uses
EV_TO_MEV = 1000.0


def page_blocks() -> dict[str, str]:
    """The page's python code by section heading (one block per section)."""
    blocks = {}
    for section in re.split(r"^## ", PAGE.read_text(), flags=re.M)[1:]:
        title = section.splitlines()[0].strip()
        code = re.findall(r"^```python\n(.*?)^```$", section, flags=re.M | re.S)
        assert len(code) == 1, f"section {title!r} of {PAGE.name} has {len(code)} python blocks; expected one"
        blocks[title] = code[0]
    return blocks


BLOCKS = page_blocks()


def recipe(number: int) -> tuple[str, str]:
    [(title, code)] = [(t, c) for t, c in BLOCKS.items() if t.startswith(f"{number}. ")]
    return title, code


@pytest.fixture(scope="module")
def finished(mongo_uri):
    name = f"pftest_{uuid.uuid4().hex[:10]}"
    client = MongoClient(mongo_uri, tz_aware=True)
    settings = parse_campaign(small_campaign(
        CAMPAIGN, system={"a": "Cs", "b": "Pb", "x": ["Br", "I"]}, phases=["Pnma"],
        selection={"clusters": 10, "batches": 2}, active={**ACTIVE_SHORT, "stage1_iterations": 1},
        relax={"cell": "fixed"}))
    store = Store(client[name], CAMPAIGN)
    began = time.perf_counter()
    run = run_local(settings, store)
    assert run.states() == {"completed": len(run.outcomes)}, [o for o in run.outcomes if o.state != "completed"]
    # a second engine: two I-rich Pm-3m structures that tblite labels, three Pnma test
    # structures on which its SCF (two cycles at most) fails
    cubic = [a for a in generate_test_set(settings.system.perovskite(), phases=("Pm-3m",), per_composition=1, seed=9)
             if a.get_chemical_symbols().count("I") >= 18][:2]
    cubic_ids = store.add_structures(cubic, role="extra")
    assert label_structures(store, make_engine("tblite"), cubic_ids)[0] == 2
    failing = store.structure_ids("test")[:3]
    assert len(label_structures(store, make_engine("tblite", max_iterations=2), failing)[2]) == 3
    try:
        yield {"db": client[name], "store": store, "settings": settings, "failing": failing,
               "seconds": time.perf_counter() - began}
    finally:
        client.drop_database(name)
        client.close()


@pytest.fixture
def namespace(finished, mongo_uri, monkeypatch, tmp_path):
    """What the page's first block makes: ``db`` and ``campaign`` (through PEROVFLOW_URI, as a user's shell would)."""
    monkeypatch.setenv("PEROVFLOW_URI", mongo_uri)
    monkeypatch.setenv("PEROVFLOW_DATABASE", finished["db"].name)
    monkeypatch.chdir(tmp_path)  # no my_launchpad.yaml here
    names: dict = {}
    exec(compile(BLOCKS["Connect"], f"{PAGE.name}: Connect", "exec"), names)
    assert names["campaign"] == CAMPAIGN and names["db"].name == finished["db"].name
    return names


def run_recipe(number: int, names: dict) -> dict:
    title, code = recipe(number)
    exec(compile(code, f"{PAGE.name}: {title}", "exec"), names)
    return names


def test_the_page_has_at_least_five_recipes():
    numbered = [title for title in BLOCKS if re.match(r"\d+\. ", title)]
    assert len(numbered) >= 5, numbered


def test_learning_curve(finished, namespace, capsys):
    curve = run_recipe(1, namespace)["curve"]
    store, ctx = finished["store"], CampaignContext(finished["settings"], finished["store"])
    assert [row[0] for row in curve] == [m["tag"] for m in store.models()]
    assert curve[0][0] == "initial/batch-0" and curve[-1][0] == "final" and len(curve) == 5
    # each model's test error again: its predictions on the test structures against their labels
    test_ids = store.structure_ids("test")
    reference = ctx.labelled_energies(test_ids)
    labelled = [sid for sid in test_ids if sid in reference]
    features = ctx.descriptor.create(store.structures(labelled))
    for tag, n_train, energy_mae, force_mae in curve:
        model, meta = ctx.model(tag)
        assert n_train == len(meta["training_ids"]) == model.to_arrays()["x_train"].shape[0]
        errors = model.predict(features) - np.array([reference[sid] for sid in labelled])
        assert energy_mae == pytest.approx(np.abs(errors).mean() * EV_TO_MEV, rel=1e-9)
        assert force_mae > 0
    assert "final" in capsys.readouterr().out


def test_labels_of_a_composition_region_and_phase(finished, namespace):
    found = run_recipe(2, namespace)["i_rich_pnma"]
    db = finished["db"]
    # the same selection from the atoms themselves and the campaign's own phase of each structure
    phase = {m["structure_id"]: m["phase"] for m in db.members.find({"campaign": CAMPAIGN})}
    numbers = {s["_id"]: s["atoms"]["numbers"] for s in db.structures.find({}, {"atoms.numbers": 1})}
    expected = {}
    for label in db.calculations.find({"campaign": CAMPAIGN, "status": "completed"}):
        z = numbers[label["structure_id"]]
        if phase[label["structure_id"]] == "Pnma" and z.count(53) / (z.count(53) + z.count(35)) > 0.5:
            expected[label["structure_id"], label["engine"]] = label["energy_per_atom"]
    assert len(expected) >= 10
    assert {(row["structure_id"], row["engine"]): row["energy_per_atom"] for row in found} == expected
    assert len(found) == len(expected)
    assert [row["x_I"] for row in found] == sorted((row["x_I"] for row in found), reverse=True)
    # the tblite labels are of Pm-3m structures: outside the region's phase
    assert db.calculations.count_documents({"engine": "tblite", "status": "completed", "x_I": {"$gt": 0.5}}) == 2
    assert {row["engine"] for row in found} == {"chgnet"}


def test_model_of_an_iteration_as_a_calculator(finished, namespace):
    names = run_recipe(3, namespace)
    store, ctx = finished["store"], CampaignContext(finished["settings"], finished["store"])
    # iteration 1 relaxed its starts with the last model of the initial stage
    assert names["iteration"]["model_tag"] == store.latest_model_tag("initial")
    assert names["calculator"].record["version"] == names["iteration"]["model_version"]
    atoms = names["atoms"].copy()
    atoms.calc = ctx.calculator(store.latest_model_tag("initial"))
    assert names["energy"] == pytest.approx(atoms.get_potential_energy(), rel=1e-12)
    assert np.allclose(names["forces"], atoms.get_forces(), rtol=0, atol=1e-10)
    # the campaign's ML relaxation recorded the same sigma at its first step
    assert names["sigma_mev"] == pytest.approx(names["relaxation"]["sigma_mev"][0], rel=1e-8)


def test_failed_calculations_and_their_reasons(finished, namespace):
    names = run_recipe(4, namespace)
    engine = make_engine("tblite", max_iterations=2)
    expected = Counter()
    for atoms in finished["store"].structures(finished["failing"]):
        with pytest.raises(Exception) as failure:
            engine.single_point(atoms)
        expected["tblite", str(failure.value)] += 1
    assert names["reasons"] == expected
    assert sorted(doc["structure_id"] for doc in names["failed"]) == sorted(finished["failing"])
    assert {(doc["n_attempts"], doc.get("failed_for_good", False)) for doc in names["failed"]} == {(1, False)}


def test_wall_time_per_engine(finished, namespace, capsys):
    names = run_recipe(5, namespace)
    db, store = finished["db"], finished["store"]
    seconds, counts = defaultdict(float), Counter()
    for label in db.calculations.find({"campaign": CAMPAIGN, "kind": "single_point", "status": "completed"}):
        seconds[label["engine"]] += label["seconds"]
        counts[label["engine"]] += 1
    selection = store.selection("initial")
    assert counts == {"chgnet": len({sid for batch in selection["batches"] for sid in batch}
                                    | set(store.structure_ids("test"))), "tblite": 2}
    for engine in counts:
        assert names["single_points"][engine]["labels"] == counts[engine]
        assert names["single_points"][engine]["seconds"] == pytest.approx(seconds[engine], rel=1e-9)
    relaxations = [t for t in store.trajectories() if t.get("finished")]
    assert names["relaxations"]["chgnet"]["relaxations"] == len(relaxations)
    assert names["relaxations"]["chgnet"]["steps"] == sum(t["steps"] for t in relaxations)
    assert names["relaxations"]["chgnet"]["seconds"] == pytest.approx(sum(t["seconds"] for t in relaxations))
    assert "tblite: 2 single points" in capsys.readouterr().out


def test_labels_added_per_iteration(finished, namespace):
    added = run_recipe(6, namespace)["added"]
    per_iteration = defaultdict(set)
    for trajectory in finished["store"].trajectories(purpose={"$in": ["stage1", "stage2"]}, finished=True):
        per_iteration[trajectory["iteration"]].update(trajectory["snapshot_ids"])
    assert added == {iteration: len(ids) for iteration, ids in per_iteration.items()}
    assert set(added) == {1, 2}
