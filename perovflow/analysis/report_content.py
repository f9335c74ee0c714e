"""What the campaign report shows, as plain values: filled from the database by
:mod:`perovflow.store.report_data`, turned into a page by :mod:`perovflow.analysis.report_page`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perovflow.analysis.parity import Parity


@dataclass
class SelectionMap:
    features: np.ndarray  # pool MBTR vectors, one row per clustered pool structure
    clusters: list[int]
    selected: list[bool]


@dataclass
class ReportData:
    campaign: str
    database: str
    generated: str
    generator: dict[str, Any]  # versions and host of the process writing the report
    info: dict[str, Any]  # :func:`perovflow.analysis.summary.summary`
    halides: list[str]
    model: dict[str, Any] | None  # the model of the parity plots (the latest)
    parity: Parity | None
    mixing: list[dict[str, Any]]  # relaxation-test rows of the latest model tested, with ``fractions``
    mixing_source: dict[str, Any] | None  # which iteration and model the mixing rows come from
    selection: dict[str, Any] | None  # :func:`perovflow.analysis.selection.selection_overview`
    selection_map: SelectionMap | None
    failed_labels: list[dict[str, Any]]
    failed_relaxations: list[dict[str, Any]]  # engine relaxations that stopped with an error
    provenance: dict[str, Any]
    notes: list[str] = field(default_factory=list)
