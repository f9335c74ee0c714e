"""``perovflow select`` writes labels and batches as JSON."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from perovflow.cli import main
from tests.selection.helpers import uneven_pool

PEROVFLOW = Path(sys.executable).with_name("perovflow")


def test_command_writes_labels_and_batches(tmp_path):
    features = uneven_pool(500, seed=0)
    np.save(tmp_path / "f.npy", features)
    out = tmp_path / "ids.json"
    done = subprocess.run(
        [str(PEROVFLOW), "select", "--features", str(tmp_path / "f.npy"), "--clusters", "20",
         "--min-size", "20", "--max-size", "40", "--batch", "3", "--seed", "4", "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "iteration" in done.stderr  # the progress bar
    record = json.loads(out.read_text())
    labels = np.array(record["labels"])
    assert labels.shape == (500,)
    sizes = np.bincount(labels)
    assert sizes.size == 20 and sizes.min() >= 20 and sizes.max() <= 40
    assert record["cluster_sizes"] == sizes.tolist()
    assert len(record["batches"]) == 3
    picked = [i for batch in record["batches"] for i in batch]
    assert len(picked) == len(set(picked)) == 60
    for batch in record["batches"]:
        assert sorted(labels[batch].tolist()) == list(range(20))
    assert record["method"] == "constrained" and record["objective"] > 0


def test_in_process_with_pca_and_default_batches(tmp_path, capsys):
    np.save(tmp_path / "f.npy", uneven_pool(300, seed=1))
    out = tmp_path / "ids.json"
    code = main(["select", "--features", str(tmp_path / "f.npy"), "--clusters", "10", "--min-size", "25",
                 "--pca", "0.9", "--method", "constrained", "--quiet", "-o", str(out)])
    assert code == 0
    record = json.loads(out.read_text())
    assert len(record["batches"]) == record["min_cluster_size"] >= 25
    assert 0.9 <= record["pca"]["explained_variance"] <= 1.0
    assert "explained variance" in capsys.readouterr().out


def test_infeasible_request_exits_2_naming_the_fields(tmp_path, capsys):
    np.save(tmp_path / "f.npy", uneven_pool(100, seed=2))
    code = main(["select", "--features", str(tmp_path / "f.npy"), "--clusters", "10", "--min-size", "11",
                 "-o", str(tmp_path / "x.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "clusters x min_size = 10 x 11 = 110" in err and "(100)" in err
    assert not (tmp_path / "x.json").exists()


def test_unknown_method_and_missing_file(tmp_path, capsys):
    np.save(tmp_path / "f.npy", uneven_pool(100, seed=2))
    assert main(["select", "--features", str(tmp_path / "f.npy"), "--clusters", "5", "--method", "dbscan",
                 "-o", str(tmp_path / "x.json")]) == 2
    assert "allowed: constrained, k-means-constrained, kmeans, random, birch, hdbscan" in capsys.readouterr().err
    assert main(["select", "--features", str(tmp_path / "nope.npy"), "--clusters", "5",
                 "-o", str(tmp_path / "x.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
