"""``perovflow report``: one self-contained HTML page of a real small campaign (CHGNet labels,
both active-learning stages and pruning through the in-process runner, plus one real tblite
label that fails), parsed back: every section, every figure a PNG, nothing fetched from
outside, and the numbers it shows equal to what the database holds."""
from __future__ import annotations

import base64
import io
import uuid
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pymongo import MongoClient

from perovflow.analysis.report_figures import (
    pca_coordinates,
    plot_mixing_over_composition,
    triangle_coordinates,
)
from perovflow.analysis.report_page import SECTIONS
from perovflow.campaign.initial import label_structures
from perovflow.campaign.local import run_local
from perovflow.cli import main
from perovflow.engines.tblite import TBLiteEngine
from perovflow.store.store import Store
from tests.campaign.helpers import ACTIVE_SHORT, active_campaign
from tests.test_architecture import DATABASE_DRIVERS, MODULES, imports_of, internal_graph, reachable

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = {"learning_curve", "parity", "relaxation_test", "mixing_composition", "mixing_parity", "selection_map",
           "selection"}


class Page(HTMLParser):
    """Sections, images, numbers and every outside reference of a page."""

    def __init__(self):
        super().__init__()
        self.sections: list[str] = []
        self.images: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.values: dict[str, float] = {}
        self.tags: Counter = Counter()
        self.references: list[str] = []  # src/href values that are not data URIs or in-page anchors
        self._open: tuple[str, str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] += 1
        if tag == "section":
            self.sections.append(attrs["id"])
        for name in ("src", "href", "action", "data", "poster"):
            value = attrs.get(name)
            if value is not None and not value.startswith(("data:image/png;base64,", "#")):
                self.references.append(value)
        if tag == "img":
            self.images[attrs["data-figure"]] = attrs["src"]
        if "data-count" in attrs:
            self._open = ("count", attrs["data-count"])
        elif "data-value" in attrs:
            self._open = ("value", attrs["data-value"])

    def handle_data(self, data):
        self.text.append(data)
        if self._open is not None:
            kind, key = self._open
            if kind == "count":
                self.counts[key] = int(data)
            else:
                self.values[key] = float(data)
            self._open = None


@pytest.fixture(scope="module")
def report(mongo_uri, tmp_path_factory):
    name = f"pftest_{uuid.uuid4().hex[:10]}"
    client = MongoClient(mongo_uri, tz_aware=True)
    db = client[name]
    # three relaxation-test starts (one alone may be an end member: no mixing enthalpy) and ML
    # relaxations long enough to converge, so that every figure has something to draw; one
    # iteration per stage keeps it under a minute
    active = {**ACTIVE_SHORT, "test_per_phase": 3, "ml_max_steps": 200, "stage1_iterations": 1,
              "stage2_iterations": 1}
    settings = active_campaign("reported", active, phases=("Pnma",))
    store = Store(db, settings.name)
    run = run_local(settings, store)
    assert run.states() == {"completed": len(run.outcomes)}
    # a real failure: a tblite SCF stopped after two cycles, on one of the campaign's pool structures
    failing = store.structure_ids("pool")[:1]
    assert label_structures(store, TBLiteEngine(max_iterations=2), failing)[2]
    path = tmp_path_factory.mktemp("report") / "out" / "report.html"
    try:
        yield db, path, ["--uri", mongo_uri, "--database", name]
    finally:
        client.drop_database(name)
        client.close()


@pytest.fixture(scope="module")
def page(report):
    db, path, options = report
    assert main(["report", "reported", "-o", str(path), *options]) == 0
    parsed = Page()
    parsed.feed(path.read_text(encoding="utf-8"))
    return parsed


def test_every_section_and_figure_is_there_and_nothing_comes_from_outside(report, page):
    _, path, _ = report
    assert page.sections == [key for key, _ in SECTIONS]
    tests = [(doc["iteration"], {k: v for k, v in (doc.get("relaxation_test") or {}).items() if k != "seconds"})
             for doc in report[0].al_iterations.find({"campaign": "reported"})]
    assert set(page.images) == FIGURES, tests
    for key, src in page.images.items():
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:8] == PNG, key
        image = Image.open(io.BytesIO(data))
        image.load()  # decodes every pixel
        assert image.format == "PNG" and min(image.size) > 200, key
    assert page.references == []
    text = path.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert page.tags["script"] == 0 and page.tags["link"] == 0 and page.tags["style"] == 1


def test_counts_shown_equal_the_database(report, page):
    db, _, _ = report
    members = list(db.members.find({"campaign": "reported"}, {"structure_id": 1, "role": 1}))
    for role, n in Counter(m["role"] for m in members).items():
        assert page.counts[f"structures:{role}"] == n
    calculations = list(db.calculations.find({"structure_id": {"$in": [m["structure_id"] for m in members]}},
                                             {"engine": 1, "status": 1, "seconds": 1}))
    by_engine = Counter((c["engine"], c["status"]) for c in calculations)
    assert by_engine[("tblite", "failed")] == 1
    for (engine, status), n in by_engine.items():
        assert page.counts[f"labels:{engine}:{status}"] == n
        assert page.counts[f"provenance:{engine}:{status}"] == n
    chgnet = [c for c in calculations if c["engine"] == "chgnet"]
    assert page.counts["provenance:chgnet:with_provenance"] == len(chgnet)
    assert page.counts["provenance:chgnet:with_fw_id"] == 0  # the local runner has no Fireworks
    assert page.values["provenance:chgnet:seconds"] == pytest.approx(sum(c.get("seconds") or 0 for c in chgnet),
                                                                     abs=0.06)
    relaxations = sum(t.get("seconds") or 0 for t in db.trajectories.find({"campaign": "reported", "engine": "chgnet"}))
    assert relaxations > 0
    assert page.values["provenance:chgnet:relaxation_seconds"] == pytest.approx(relaxations, abs=0.06)
    failed = sum(n for (_, status), n in by_engine.items() if status == "failed")
    assert page.counts["failed-labels"] == page.counts["failures:labels"] == failed == 1
    assert page.counts["failed-jobs"] == page.counts["failures:jobs"] == 0  # the local runner has no Fireworks
    assert page.counts["models"] == db.models.count_documents({"campaign": "reported"})
    assert "SCF" in "".join(page.text)  # the failure's reason is on the page
    assert page.counts["failures:relaxations"] == db.trajectories.count_documents(
        {"campaign": "reported", "failed": {"$exists": True, "$ne": None}})

    selection = db.selections.find_one({"campaign": "reported", "name": "initial"})
    assert page.counts["selection:pool"] == len(selection["cluster_of"])
    assert page.counts["selection:clusters"] == len(set(selection["cluster_of"].values()))
    assert page.counts["selection:selected"] == sum(len(batch) for batch in selection["batches"])
    final = db.al_iterations.find_one({"campaign": "reported", "stage": "final"})
    assert page.counts["mixing:rows"] == len(final["relaxation_test"]["mixing_enthalpies"])
    # the halides come from the structures (the local runner stores no campaign file), not one structure's
    assert "relaxed end members (Cl, Br)" in "".join(page.text)


def test_parity_errors_equal_those_stored_with_the_model(report, page):
    """The page predicts the test set again with the latest model: its MAEs are the ones the
    campaign measured when it stored the model."""
    db, _, _ = report
    latest = db.models.find_one({"campaign": "reported"}, sort=[("version", -1)])
    metrics = latest["metrics"]
    assert page.counts["parity:n_energies"] == metrics["n_test"]
    assert page.counts["parity:n_force_structures"] == metrics["n_test_forces"]
    assert page.values["parity:energy_mae"] == pytest.approx(metrics["test_energy_mae_mev_per_atom"], abs=6e-4)
    assert page.values["parity:force_mae"] == pytest.approx(metrics["test_force_mae_mev_per_angstrom"], abs=0.06)
    version = latest["version"]
    assert page.values[f"energy_mae:{version}"] == pytest.approx(metrics["test_energy_mae_mev_per_atom"], abs=6e-4)
    for model in db.models.find({"campaign": "reported"}):  # sigma's calibration of every version
        stored, v = model["metrics"], model["version"]
        ratios = [page.values[f"sigma_ratio:{v}:{k}"] for k in range(3)]
        assert ratios == pytest.approx(stored["calibration_rmse_over_sigma_terciles"], abs=6e-3)
        assert page.values[f"sigma_area:{v}"] == pytest.approx(stored["calibration_miscalibration_area"], abs=6e-4)
    assert "leave-one-out, " in "".join(page.text)
    for doc in db.al_iterations.find({"campaign": "reported"}):
        test = doc.get("relaxation_test") or {}
        if test.get("mae_mev") is not None:
            assert page.values[f"relaxed_mae:{doc['iteration']}"] == pytest.approx(test["mae_mev"], abs=6e-4)


def test_parity_recomputes_the_stored_errors_exactly(report):
    from perovflow.store.report_data import read_report_data

    db, _, _ = report
    data = read_report_data(db, "reported")
    metrics = db.models.find_one({"campaign": "reported"}, sort=[("version", -1)])["metrics"]
    assert data.parity.energy_mae_mev == pytest.approx(metrics["test_energy_mae_mev_per_atom"], rel=1e-9)
    assert data.parity.force_mae_mev == pytest.approx(metrics["test_force_mae_mev_per_angstrom"], rel=1e-9)
    assert len(data.parity.force_label) == len(data.parity.force_ml) == 3 * 40 * metrics["n_test_forces"]


def test_an_unknown_campaign_is_named_and_nothing_is_written(report, capsys, tmp_path):
    _, _, options = report
    out = tmp_path / "none.html"
    assert main(["report", "no-such-campaign", "-o", str(out), *options]) == 2
    error = capsys.readouterr().err
    assert "'no-such-campaign'" in error and "reported" in error  # names it and the campaigns there
    assert not out.exists()
    assert main(["report", "reported", "-o", str(out), "--max-force-structures", "-1", *options]) == 2
    assert "--max-force-structures must be 0 or more" in capsys.readouterr().err and not out.exists()


def test_triangle_and_pca_coordinates():
    corners = triangle_coordinates(np.eye(3))
    assert np.allclose(corners, [[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]])
    assert np.allclose(triangle_coordinates([[1 / 3, 1 / 3, 1 / 3]]), [[0.5, np.sqrt(3) / 6]])
    with pytest.raises(ValueError, match="sum to 1"):
        triangle_coordinates([[0.5, 0.2, 0.2]])
    rng = np.random.default_rng(0)
    direction = np.array([3.0, 4.0, 0.0]) / 5.0
    points = np.outer(rng.normal(size=200) * 10, direction) + rng.normal(size=(200, 3)) * 0.1
    coordinates, share = pca_coordinates(points)
    assert share[0] > 0.99 and share[0] >= share[1]
    assert abs(np.corrcoef(coordinates[:, 0], points @ direction)[0, 1]) > 0.999


def test_three_halides_are_drawn_on_the_triangle(tmp_path):
    rows = [{"fractions": {"Cl": a / 6, "Br": b / 6, "I": (6 - a - b) / 6}, "phase": phase,
             "dh_engine_mev": float(a * b), "dh_ml_mev": float(a * b) + 0.3}
            for a in range(7) for b in range(7 - a) for phase in ("Pm-3m", "Pnma")]
    path = plot_mixing_over_composition(rows, ["Cl", "Br", "I"], "c", tmp_path / "t.png")
    assert path.read_bytes()[:8] == PNG and Image.open(path).size[0] > 800
    assert plot_mixing_over_composition([], ["Cl", "Br", "I"], "c", tmp_path / "none.png") is None


@pytest.mark.parametrize("module", ["perovflow.analysis.report_page", "perovflow.analysis.report_figures",
                                    "perovflow.analysis.report_content", "perovflow.analysis.parity"])
def test_the_page_and_its_figures_need_no_database(module):
    """Only :mod:`perovflow.store.report_data` reads the database; what draws stays free of it."""
    assert module in MODULES
    for name in {module, *reachable(internal_graph(), module)}:
        assert not name.startswith(("perovflow.store", "perovflow.fireworks", "perovflow.analysis.summary",
                                    "perovflow.analysis.selection")), f"{module} reaches {name}"
        for target, _ in imports_of(name):
            top = target.split(".")[0]
            assert top != "fireworks" and top not in DATABASE_DRIVERS, f"{module} reaches {name}, which imports {target}"


def test_report_path_is_a_file(report, capsys, tmp_path):
    _, _, options = report
    assert main(["report", "reported", "-o", str(tmp_path), *options]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert Path(tmp_path).is_dir()


def test_a_campaign_that_has_only_been_submitted_gets_a_page_without_figures(target, tmp_path):
    from tests.campaign.helpers import small_campaign

    client = MongoClient(target.uri, tz_aware=True)
    try:
        store = Store(client[target.database], "submitted")
        store.ensure_indexes()
        store.save_settings(small_campaign("submitted"))
    finally:
        client.close()
    out = tmp_path / "submitted.html"
    assert main(["report", "submitted", "-o", str(out), "--uri", target.uri, "--database", target.database]) == 0
    page = Page()
    page.feed(out.read_text(encoding="utf-8"))
    assert page.sections == [key for key, _ in SECTIONS] and page.images == {}
    assert page.counts["models"] == 0 and page.counts["failed-labels"] == 0
    assert "nothing to draw" not in "".join(page.text) and "No model" in "".join(page.text)
