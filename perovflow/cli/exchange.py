"""``perovflow export`` and ``perovflow import``: a campaign's data and models to files, and
published datasets into the store (:mod:`perovflow.exchange`)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from perovflow.cli.database import add_target_options, target_of
from perovflow.exchange.layout import FORMATS, LAYOUTS


def _store(args: argparse.Namespace, campaign: str, target=None):
    from perovflow.store.store import Store

    target = target or target_of(args)
    return Store(target.client(tz_aware=True)[target.database], campaign)


def cmd_export(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    target = target_of(args)  # before the science stack loads: an unreachable database is said at once
    from perovflow.exchange.export import ExportError, export_campaign

    store = _store(args, args.campaign, target)
    try:
        result = export_campaign(store, args.output, fmt=args.format, layout=args.layout, models=args.models,
                                 force=args.force)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, count in result.files.items():
        what = "training rows" if name.endswith(".npz") else "structures"
        print(f"{Path(args.output) / name}: {count} {what}")
    print(f"exported campaign {args.campaign} in {time.perf_counter() - began:.1f} s")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from perovflow.exchange.imports import ImportFailed, find_sources, import_source, read_source

    began = time.perf_counter()
    try:  # read every file before storing anything: a bad file stores nothing
        sources = [read_source(path, layout, args.energy_unit, args.energy_key)
                   for path, layout in find_sources(args.files)]
    except ImportFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = _store(args, args.campaign)
    store.ensure_indexes()
    conflicts = 0
    for source in sources:
        report = import_source(store, source, args.labels, args.dft)
        conflicts += len(report.conflicts)
        print(f"{report.file} ({source.layout}, sha256 {source.sha256[:12]}): {report.frames} structures, "
              f"{report.new_labels} new labels, {report.known_labels} already stored"
              + (f", {len(report.conflicts)} stored with another energy (kept): {report.conflicts[:3]}"
                 if report.conflicts else ""))
    print(f"imported into campaign {args.campaign} as labels {args.labels!r} "
          f"(is_dft: {str(args.dft).lower()}) in {time.perf_counter() - began:.1f} s")
    return 1 if conflicts else 0


def add_parsers(commands: Any) -> None:
    export = commands.add_parser("export", help="a campaign's data sets (extended XYZ or ASE db) and models "
                                                "(.npz + JSON card) into a folder")
    export.add_argument("campaign")
    export.add_argument("-o", "--output", required=True, help="folder (created; must be empty without --force)")
    export.add_argument("--format", default="extxyz", choices=list(FORMATS))
    export.add_argument("--layout", default="perovflow", choices=list(LAYOUTS),
                        help="paper: the file names of Homm et al. 2025 (sp_train_set, sp_test_set, al_data)")
    export.add_argument("--models", default="latest",
                        help="latest (default), all, none, or comma-separated tags such as final,initial/batch-1")
    export.add_argument("--force", action="store_true", help="write into a non-empty folder")
    add_target_options(export)
    export.set_defaults(func=cmd_export)

    imp = commands.add_parser("import", help="extended XYZ with energies, or per-phase structures.xyz + etot.dat, "
                                             "as structures and labels of a campaign")
    imp.add_argument("files", nargs="+", help="extended XYZ files; structures.xyz (etot.dat next to it) or "
                                              "folders holding them")
    imp.add_argument("--campaign", required=True)
    imp.add_argument("--labels", required=True, help="name of the label set (stored as the labels' engine)")
    dft = imp.add_mutually_exclusive_group(required=True)
    dft.add_argument("--dft", dest="dft", action="store_true", help="the energies are DFT")
    dft.add_argument("--no-dft", dest="dft", action="store_false", help="the energies are not DFT")
    imp.add_argument("--energy-unit", default="eV", choices=["eV", "Ha", "Ry"],
                     help="unit of energy-only files (etot.dat); default eV")
    imp.add_argument("--energy-key", help="info key of the energy in extended XYZ (default: ASE's energy)")
    add_target_options(imp)
    imp.set_defaults(func=cmd_import)
