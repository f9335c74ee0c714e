"""``perovflow pool``: argparse wiring, extxyz output with phase, composition and settings."""
from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np
from ase.io import read

from perovflow.cli.pool import add_pool_parser, run_pool


def _parse(argv):
    parser = argparse.ArgumentParser(prog="perovflow")
    add_pool_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_pool_command_writes_extxyz(tmp_path, capsys):
    out = tmp_path / "pool.extxyz"
    args = _parse(["pool", "--system", "Cs Sn Cl,Br,I", "--phases", "cubic,Pnma",
                   "--per-composition", "1", "--seed", "7", "--volume-std", "0.05",
                   "--tilt", "Pnma=9,7", "--lattice", "I=6.25", "-o", str(out)])
    assert args.func is run_pool
    assert run_pool(args) == 0
    assert "wrote 650 structures" in capsys.readouterr().out
    frames = read(out, ":")
    assert len(frames) == 650
    assert Counter(f.info["phase"] for f in frames) == {"Pm-3m": 325, "Pnma": 325}
    first = frames[0]
    assert len(first) == 40 and first.pbc.all()
    assert {"phase", "composition", "x_counts", "pool_index", "seed", "generator"} <= set(first.info)
    assert int(frames[10].info["pool_index"]) == 10 and int(first.info["seed"]) == 7
    record = json.loads(first.info["generator"])
    assert record["settings"]["volume_std"] == 0.05
    assert record["settings"]["tilt_angles"]["Pnma"] == [9.0, 7.0]
    assert record["system"]["lattice_constants"]["I"] == 6.25
    assert sum(np.asarray(first.info["x_counts"])) == 24


def test_relax_and_test_kinds(tmp_path):
    out = tmp_path / "relax.extxyz"
    assert run_pool(_parse(["pool", "--system", "Cs Pb Cl,Br", "--kind", "relax",
                            "--per-phase", "3", "-o", str(out)])) == 0
    frames = read(out, ":")
    assert len(frames) == 12 and {f.info["role"] for f in frames} == {"relax_start"}
    out = tmp_path / "test.extxyz"
    assert run_pool(_parse(["pool", "--system", "Cs Pb Cl,Br", "--kind", "test",
                            "-o", str(out)])) == 0
    assert len(read(out, ":")) == 4 * 25 * 2


def test_bad_input_returns_2_with_message(tmp_path, capsys):
    out = tmp_path / "x.extxyz"
    assert run_pool(_parse(["pool", "--system", "Cs Sn Cl,At", "-o", str(out)])) == 2
    assert "x: unknown halide 'At'" in capsys.readouterr().err
    assert run_pool(_parse(["pool", "--system", "Cs Sn Cl", "--tilt-std", "-1", "-o", str(out)])) == 2
    assert "tilt_std" in capsys.readouterr().err
    assert run_pool(_parse(["pool", "--system", "Cs Sn Cl", "--phases", "hexagonal", "-o", str(out)])) == 2
    assert "allowed" in capsys.readouterr().err
    assert not out.exists()
