"""The campaign report: one self-contained HTML page (inline CSS, figures as base64 PNG data
URIs, no script and no link to anything outside it) made from :class:`ReportData`.

Every count the page shows carries ``data-count`` (every measured figure ``data-value``)
with a stable key, so a program can read the numbers back from the page."""
from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from perovflow.analysis.plots import plot_learning_curve, plot_mixing_enthalpies, plot_relaxation_test, plot_selection
from perovflow.analysis.report_content import ReportData
from perovflow.analysis.report_figures import (
    pca_coordinates,
    plot_mixing_over_composition,
    plot_parity,
    plot_selection_map,
)

SECTIONS = (("overview", "Overview"), ("learning-curves", "Learning curves"), ("parity", "Parity plots"),
            ("relaxation-test", "Relaxation test per iteration"), ("mixing-enthalpies", "Mixing enthalpies"),
            ("selection", "Initial selection"), ("failures", "Failed calculations"), ("provenance", "Provenance"))

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; font-size: 1.2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; display: block; margin: 0.6em 0; }
.note { color: #8a4b00; } .empty { color: #777; font-style: italic; }
nav a { margin-right: 1em; } code { background: #f3f3f3; }
"""


def _e(value: Any) -> str:
    return html.escape("-" if value is None else str(value))


def _count(key: str, value: int) -> str:
    return f'<td class="n" data-count="{_e(key)}">{int(value)}</td>'


def _value(key: str, value: float | None, digits: int) -> str:
    if value is None:
        return '<td class="n">-</td>'
    return f'<td class="n" data-value="{_e(key)}">{value:.{digits}f}</td>'


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _significant(value: Any) -> Any:
    return f"{value:.3g}" if isinstance(value, float) else value


def _table(header: Sequence[str], rows: Iterable[Iterable[str]]) -> str:
    """``rows`` hold ready cells (``<td>...``)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cells(*values: Any) -> list[str]:
    return [f"<td>{_e(v)}</td>" for v in values]


def _image(path: Path | None, alt: str, key: str) -> str:
    if path is None:
        return f'<p class="empty">{_e(alt)}: nothing to draw yet.</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" data-figure="{_e(key)}" src="data:image/png;base64,{data}">'


def build_report(data: ReportData, progress: Callable[[str], None] | None = None) -> str:
    """The page's HTML; ``progress`` gets a line per figure."""
    say = progress or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="perovflow-report-") as folder:
        figures = Path(folder)
        parts = [_overview(data)]
        for maker in (_learning_curves, _parity, _relaxation_test, _mixing, _selection):
            say(f"drawing {maker.__name__.strip('_').replace('_', ' ')}")
            parts.append(maker(data, figures))
        parts.extend([_failures(data), _provenance(data)])
    nav = "".join(f'<a href="#{key}">{_e(title)}</a>' for key, title in SECTIONS)
    titles = dict(SECTIONS)
    body = "".join(f'<section id="{key}"><h2>{_e(titles[key])}</h2>{content}</section>'
                   for key, content in zip(titles, parts))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>perovflow report: {_e(data.campaign)}</title><style>{STYLE}</style></head><body>"
            f"<h1>perovflow campaign report: {_e(data.campaign)}</h1>"
            f"<p>database <code>{_e(data.database)}</code>, written {_e(data.generated)} by perovflow "
            f"{_e(data.generator.get('versions', {}).get('perovflow'))} on {_e(data.generator.get('host'))}</p>"
            f"<nav>{nav}</nav>{body}</body></html>\n")


def _overview(data: ReportData) -> str:
    info = data.info
    out = []
    stand_ins = sorted({row["engine"] for row in info["learning_curve"] if row.get("is_dft") is False})
    if stand_ins:
        out.append(f'<p class="note">Labels from a stand-in oracle ({_e(", ".join(stand_ins))}), not DFT: '
                   "absolute errors are not DFT errors.</p>")
    out.extend(f'<p class="note">{_e(note)}</p>' for note in data.notes)
    rows = [_cells("structures", role) + [_count(f"structures:{role}", n)]
            for role, n in sorted(info["structures"].items())]
    for key, n in info["labels"].items():
        engine, _, status = key.rpartition("/")
        rows.append(_cells("labels", f"{engine} {status}") + [_count(f"labels:{engine}:{status}", n)])
    rows.extend(_cells("labels by purpose (completed)", purpose) + [_count(f"purpose:{purpose}", n)]
                for purpose, n in info["labels_by_stage"].items())
    rows.extend(_cells("jobs", state) + [_count(f"jobs:{state}", n)] for state, n in info["jobs"].items())
    rows.append(_cells("models", "versions stored") + [_count("models", len(info["learning_curve"]))])
    rows.append(_cells("failed calculations", "labels") + [_count("failed-labels", len(data.failed_labels))])
    rows.append(_cells("failed jobs", "FIZZLED Fireworks") + [_count("failed-jobs", len(info["fizzled"]))])
    out.append(_table(["what", "which", "count"], rows))
    chosen = info.get("selection")
    if chosen:
        sizes = f" of {chosen['sizes_min']}-{chosen['sizes_max']} structures" if "sizes_min" in chosen else ""
        out.append(f"<p>Initial selection: {_e(chosen.get('method'))}, {_e(chosen.get('clusters'))} clusters{sizes}; "
                   f"{_e(chosen['batches'])} batches, {_e(chosen['selected'])} structures.</p>")
    return "".join(out)


def _learning_curves(data: ReportData, folder: Path) -> str:
    curve = data.info["learning_curve"]
    if not curve:
        return '<p class="empty">No model stored yet.</p>'
    figure = plot_learning_curve(data.info, folder / "learning_curve.png")
    rows = [_cells(r["version"], r.get("stage"), r.get("batch")) + [
        _count(f"n_train:{r['version']}", r["n_train"]) if r["n_train"] is not None else "<td>-</td>",
        _value(f"energy_mae:{r['version']}", r["mae"], 3), _value(f"energy_rmse:{r['version']}", r["rmse"], 3),
        _value(f"force_mae:{r['version']}", r.get("force_mae"), 1),
        _value(f"force_rmse:{r['version']}", r.get("force_rmse"), 1)] for r in curve]
    return (_image(figure, "learning curves: test-set energy and force MAE", "learning_curve")
            + _table(["version", "stage", "batch", "training structures", "E MAE (meV/atom)", "E RMSE (meV/atom)",
                      "F MAE (meV/Å)", "F RMSE (meV/Å)"], rows) + _sigma_calibration(curve))


def _sigma_calibration(curve: list[dict[str, Any]]) -> str:
    """How well sigma knew each model's test-set error, and what set its amplitude."""
    measured = [r for r in curve if r.get("rmse_over_sigma")]
    if not measured:
        return ""
    rows = [_cells(r["version"], r.get("stage")) + [
        *(_value(f"sigma_ratio:{r['version']}:{k}", ratio, 2) for k, ratio in enumerate(r["rmse_over_sigma"])),
        _value(f"sigma_area:{r['version']}", r.get("miscalibration_area"), 3),
        _value(f"sigma_spearman:{r['version']}", r.get("spearman"), 2),
        *_cells(_set_by(r))] for r in measured]
    return ("<h3>Sigma's calibration on the test set</h3><p>RMSE / mean sigma in each sigma tercile (1 when sigma "
            "is the RMS error), the miscalibration area (0 when calibrated) and the Spearman correlation of sigma "
            "with the absolute error.</p>"
            + _table(["version", "stage", "RMSE/sigma low", "middle", "high", "area", "Spearman", "sigma set by"],
                     rows))


def _set_by(row: dict[str, Any]) -> str:
    rule, n = row.get("sigma_calibration"), row.get("sigma_calibration_rows")
    return f"{n} held-out structures" if rule == "held-out" else (
        f"leave-one-out, {n} training structures" if rule == "leave-one-out" else "-")


def _parity(data: ReportData, folder: Path) -> str:
    if data.model is None or data.parity is None:
        return '<p class="empty">No model (or no labelled test set) yet.</p>'
    model, parity = data.model, data.parity
    name = f"{model['version']} ({model['tag']})"
    figure = plot_parity(parity, data.campaign, name, folder / "parity.png")
    stored = model["metrics"]
    rows = [_cells("energy (meV/atom)") + [_count("parity:n_energies", parity.n_energies),
                                          _value("parity:energy_mae", parity.energy_mae_mev, 3),
                                          _value("parity:stored_energy_mae",
                                                 stored.get("test_energy_mae_mev_per_atom"), 3)],
            _cells("force components (meV/Å)") + [_count("parity:n_force_structures", parity.n_force_structures),
                                                  _value("parity:force_mae", parity.force_mae_mev, 1),
                                                  _value("parity:stored_force_mae",
                                                         stored.get("test_force_mae_mev_per_angstrom"), 1)]]
    hyper = model.get("hyperparameters") or {}
    return (f"<p>Model {_e(name)}, stage {_e(model.get('stage'))}, trained on {_e(model.get('n_train'))} "
            f"structures labelled by {_e(model.get('engine'))}; alpha {_e(_significant(hyper.get('alpha')))}, "
            f"gamma {_e(_significant(hyper.get('gamma')))}.</p>"
            + _image(figure, "parity: ML against label energies and forces on the test set", "parity")
            + _table(["quantity", "test structures", "MAE (here)", "MAE (stored with the model)"], rows))


def _relaxation_test(data: ReportData, folder: Path) -> str:
    rows = data.info.get("active_learning") or []
    if not rows:
        return '<p class="empty">No active learning in this campaign (or not started yet).</p>'
    figure = plot_relaxation_test(data.info, folder / "relaxation_test.png")
    table = []
    for r in rows:
        label = "final" if r["stage"] == "final" else r["iteration"]
        table.append(_cells(label, r.get("stage"), r.get("model_version"), r.get("acquisitions"))
                     + [_value(f"convergence:{r['iteration']}",
                               None if r["convergence"] is None else 100 * r["convergence"], 0),
                        _value(f"relaxed_mae:{r['iteration']}", r["mae_mev"], 3)]
                     + _cells(r.get("n_test"), r.get("next_stage") or ""))
    return (_image(figure, "relaxation test per iteration: relaxed-energy MAE and convergence", "relaxation_test")
            + _table(["iteration", "stage", "model", "acquired", "converged (%)", "relaxed-energy MAE (meV/atom)",
                      "test structures", "next"], table))


def _mixing(data: ReportData, folder: Path) -> str:
    if not data.mixing:
        return '<p class="empty">No relaxation test with mixing enthalpies yet.</p>'
    source = data.mixing_source or {}
    over = plot_mixing_over_composition(data.mixing, data.halides, data.campaign, folder / "mixing_composition.png")
    parity = plot_mixing_enthalpies(data.mixing, data.campaign, folder / "mixing_parity.png")
    rows = []
    for r in sorted(data.mixing, key=lambda r: (str(r.get("phase")), sorted((r.get("fractions") or {}).items()))):
        fractions = ", ".join(f"{h} {f:.3f}" for h, f in (r.get("fractions") or {}).items())
        rows.append(_cells(r["structure_id"][:12], r.get("phase"), fractions, _number(r.get("dh_engine_mev"), 2),
                           _number(r.get("dh_ml_mev"), 2), "yes" if r.get("ml_converged") else "no"))
    return (f"<p>Relaxation test of iteration {_e(source.get('iteration'))} ({_e(source.get('stage'))}), model "
            f"{_e(source.get('model_version'))} ({_e(source.get('model_tag'))}): <span data-count=\"mixing:rows\">"
            f"{len(data.mixing)}</span> relaxed mixed structures; each method's dH_mix is taken from its own "
            f"relaxed end members ({_e(', '.join(data.halides))}).</p>"
            + _image(over, "mixing enthalpies over the composition", "mixing_composition")
            + _image(parity, "ML against engine mixing enthalpies", "mixing_parity")
            + _table(["structure", "phase", "halide fractions", "engine dH (meV/atom)", "ML dH (meV/atom)",
                      "ML converged"], rows))


def _selection(data: ReportData, folder: Path) -> str:
    chosen = data.selection_map
    if chosen is None or len(chosen.features) < 2:
        return '<p class="empty">No initial selection yet.</p>'
    coordinates, variance = pca_coordinates(chosen.features)
    pca = plot_selection_map(coordinates, chosen.clusters, chosen.selected, variance, data.campaign,
                             folder / "selection_map.png")
    shares = plot_selection(data.selection, folder / "selection.png")
    return (f"<p>PCA of the pool's MBTR vectors: <span data-count=\"selection:pool\">{len(chosen.clusters)}</span> "
            f"structures in <span data-count=\"selection:clusters\">{len(set(chosen.clusters))}</span> clusters, "
            f"<span data-count=\"selection:selected\">{sum(chosen.selected)}</span> selected for labelling. "
            "Colours repeat every 20 clusters.</p>"
            + _image(pca, "initial selection on a PCA map of the pool, coloured by cluster", "selection_map")
            + _image(shares, "cluster sizes, phases and halide content: selected against pool", "selection"))


def _failures(data: ReportData) -> str:
    out = []
    labels = data.failed_labels
    out.append(f"<p><span data-count=\"failures:labels\">{len(labels)}</span> failed calculation(s), "
               f"{sum(r['failed_for_good'] for r in labels)} failed for good (not tried again).</p>")
    if labels:
        out.append(_table(["structure", "engine", "kind", "purpose", "tries", "for good", "host", "reason"],
                          (_cells(r["structure_id"][:12], r["engine"], r["kind"], r["purpose"], r["attempts"],
                                  "yes" if r["failed_for_good"] else "no", r["host"], r["reason"]) for r in labels)))
    relaxations = data.failed_relaxations
    out.append(f"<p><span data-count=\"failures:relaxations\">{len(relaxations)}</span> engine relaxation(s) "
               "stopped with an error.</p>")
    if relaxations:
        out.append(_table(["relaxation", "purpose", "iteration", "phase", "engine", "corrections", "reason"],
                          (_cells(r["key"], r["purpose"], r["iteration"], r["phase"], r["engine"], r["corrections"],
                                  r["reason"]) for r in relaxations)))
    jobs = data.info["fizzled"]
    out.append(f"<p><span data-count=\"failures:jobs\">{len(jobs)}</span> failed job(s) (FIZZLED Fireworks).</p>")
    if jobs:
        out.append(_table(["fw_id", "name", "step", "campaign blocked", "reason"],
                          (_cells(j["fw_id"], j["name"], j["step"], "yes" if j["blocking"] else "no", j["reason"])
                           for j in jobs)))
    return "".join(out)


def _provenance(data: ReportData) -> str:
    engines = data.provenance["engines"]
    rows = [_cells(name) + [_count(f"provenance:{name}:completed", row["completed"]),
                            _count(f"provenance:{name}:failed", row["failed"]),
                            _value(f"provenance:{name}:seconds", row["seconds"], 1),
                            _value(f"provenance:{name}:relaxation_seconds", row["relaxation_seconds"], 1),
                            _count(f"provenance:{name}:with_provenance", row["with_provenance"]),
                            _count(f"provenance:{name}:with_fw_id", row["with_fw_id"])]
            + _cells(", ".join(row["hosts"]) or "-", ", ".join(row["program_versions"]) or "-",
                     "/".join("DFT" if d else "stand-in" for d in row["is_dft"]))
            for name, row in engines.items()]
    out = [_table(["engine", "completed", "failed", "single-point seconds", "relaxation seconds", "with provenance", "with fw_id", "hosts",
                   "program version", "labels"], rows)]
    versions = data.provenance["versions"]
    if versions:
        names = sorted({name for entry in versions for name in entry["versions"]})
        out.append("<p>Code versions the labels were made with (one row per distinct set):</p>")
        out.append(_table(["labels", *names], ([f'<td class="n">{entry["labels"]}</td>',
                                                *_cells(*(entry["versions"].get(n) for n in names))]
                                               for entry in versions)))
    else:
        out.append('<p class="empty">No label records its code versions (stored before provenance was kept).</p>')
    mine = data.generator.get("versions", {})
    out.append("<p>This page: " + _e(", ".join(f"{k} {v}" for k, v in sorted(mine.items()))) + ".</p>")
    return "".join(out)
