"""CsPbBr3 CCD-NN (Thomas et al. 2019) against MBTR-KRR on the same train/test split.

Run (heavy: wrap it in the machine's lock)::

    flock /tmp/perovflow-heavy.lock .venv/bin/python benchmarks/bench_ccd.py

It runs ``workflows/cspbbr3_ccd.yaml`` in-process (sampler -> CHGNet labels -> 10-fold
model choice -> committee -> held-out test; labels are cached in the run folder, so a
second run only retrains), then fits MBTR-KRR (species Cs, Pb, Br; the MBTR settings
of Homm et al. 2025; alpha and gamma chosen by 5-fold CV on the same training rows) and writes
``benchmarks/results/ccd.json`` and the four path plots (oracle, CCD-NN committee with its
sigma, MBTR-KRR) under ``benchmarks/results/ccd/``.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import perovflow  # noqa: E402,F401  (BLAS and torch settings first)

RESULTS = ROOT / "benchmarks" / "results"


def krr_choice(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> tuple[dict, list[dict]]:
    """alpha and gamma of MBTR-KRR by k-fold CV on the training rows (the values of Homm et al. 2025 included)."""
    from perovflow.models.folds import kfold_splits
    from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters

    grid = [(a, g) for a in (1e-8, 1e-6, 1e-5, 1e-4) for g in (4.279e-2, 0.3, 1.0, 3.0, 10.0, 30.0)]
    table = []
    for alpha, gamma in grid:
        errs = []
        for train, val in kfold_splits(len(y), folds, seed):
            model = KernelRidgeEnergy(KRRHyperparameters(alpha=alpha, gamma=gamma)).fit(x[train], y[train])
            errs.append(float(np.sqrt(np.mean((model.predict(x[val]) - y[val]) ** 2))))
        table.append({"alpha": alpha, "gamma": gamma, "cv_rmse_mev_per_atom": 1e3 * float(np.mean(errs))})
    best = min(table, key=lambda r: r["cv_rmse_mev_per_atom"])
    return best, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "workflows" / "cspbbr3_ccd.yaml"))
    parser.add_argument("--run-dir", default=str(ROOT / "runs" / "ccd"))
    parser.add_argument("-o", "--output", type=Path, default=RESULTS / "ccd.json")
    parser.add_argument("--plots", type=Path, default=RESULTS / "ccd")
    args = parser.parse_args(argv)

    import torch
    from ase.io import read

    from perovflow.ccd.config import load_campaign
    from perovflow.ccd.pipeline import run_campaign
    from perovflow.ccd.plots import plot_path
    from perovflow.ccd.sampler import PATH_AXES, evaluation_paths
    from perovflow.ccd.sampler.sampler import ORTHORHOMBIC, TETRAGONAL
    from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
    from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters

    torch.set_num_threads(1)
    campaign = load_campaign(args.config)
    t0 = time.perf_counter()
    ccd = run_campaign(campaign, Path(args.run_dir), lambda m: print(m, flush=True))
    t_ccd = time.perf_counter() - t0

    print("MBTR-KRR on the same split", flush=True)
    t0 = time.perf_counter()
    run = Path(args.run_dir)
    structures = read(run / "dataset.extxyz", index=":")
    y = np.array([a.info["energy_per_atom"] for a in structures])
    split = np.load(run / "split.npz")
    train, test = split["train"], split["test"]
    mbtr = MBTRDescriptor(MBTRSettings(species=("Cs", "Pb", "Br")))
    x = mbtr.create(structures)
    t_feat = time.perf_counter() - t0
    best, table = krr_choice(x[train], y[train], seed=campaign.seed)
    krr = KernelRidgeEnergy(KRRHyperparameters(alpha=best["alpha"], gamma=best["gamma"])).fit(x[train], y[train])
    krr_test = float(np.sqrt(np.mean((krr.predict(x[test]) - y[test]) ** 2)))
    seed_krr = KernelRidgeEnergy(KRRHyperparameters()).fit(x[train], y[train])
    seed_test = float(np.sqrt(np.mean((seed_krr.predict(x[test]) - y[test]) ** 2)))
    t_krr = time.perf_counter() - t0
    print(f"MBTR-KRR test RMSE {1e3 * krr_test:.2f} meV/atom (alpha {best['alpha']:g}, gamma {best['gamma']:g}); "
          f"Homm et al. 2025 hyperparameters {1e3 * seed_test:.2f}", flush=True)

    paths = evaluation_paths(ccd["a0"], ccd["best_tilt_angles"].get(TETRAGONAL, 6.0) or 6.0,
                             ccd["best_tilt_angles"].get(ORTHORHOMBIC, 6.0) or 6.0, campaign.path_points)
    plots, krr_paths = {}, {}
    for name, (xs, path_structures) in paths.items():
        p = ccd["paths"][name]
        e_krr = krr.predict(mbtr.create(path_structures))
        krr_paths[name] = {"model": e_krr.tolist(),
                           "rmse": float(np.sqrt(np.mean((e_krr - np.array(p["oracle"])) ** 2)))}
        png = plot_path(args.plots / f"{name}.png", np.array(p["x"]), np.array(p["oracle"]), np.array(p["model"]),
                        np.array(p["sigma"]), PATH_AXES[name], f"CsPbBr3 {name.replace('_', ' ')}",
                        ccd["oracle"]["engine"] + " (oracle)", extra={"MBTR-KRR": e_krr})
        plots[name] = str(png.relative_to(ROOT))

    record = {
        "benchmark": "ccd", "command": "flock /tmp/perovflow-heavy.lock .venv/bin/python benchmarks/bench_ccd.py",
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "torch_threads": torch.get_num_threads()},
        "oracle": ccd["oracle"], "n_structures": ccd["n_structures"], "n_train": ccd["n_train"],
        "n_test": ccd["n_test"], "sources": ccd["sources"], "a0": ccd["a0"],
        "energy_std_mev_per_atom": ccd["energy_std_mev_per_atom"],
        "ccdnn": {"chosen": ccd["chosen"], "test_rmse_mev_per_atom": ccd["test_rmse_mev_per_atom"],
                  "train_rmse_mev_per_atom": ccd["train_rmse_mev_per_atom"],
                  "test_mean_sigma_mev_per_atom": ccd["test_mean_sigma_mev_per_atom"],
                  "test_sigma_error_correlation": ccd["test_sigma_error_correlation"],
                  "cross_validation": [{k: r[k] for k in ("label", "cv_rmse", "cv_rmse_std", "train_rmse")}
                                       for r in ccd["cross_validation"]],
                  "path_rmse_mev_per_atom": {k: 1e3 * v["rmse"] for k, v in ccd["paths"].items()}},
        "mbtr_krr": {"species": ["Cs", "Pb", "Br"], "n_features": int(x.shape[1]), "chosen": best,
                     "test_rmse_mev_per_atom": 1e3 * krr_test,
                     "test_rmse_seed000_hyperparameters_mev_per_atom": 1e3 * seed_test,
                     "cv_table": table,
                     "path_rmse_mev_per_atom": {k: 1e3 * v["rmse"] for k, v in krr_paths.items()}},
        "rmse_ratio_ccdnn_over_krr": ccd["test_rmse_mev_per_atom"] / (1e3 * krr_test),
        "timings_s": {"ccd_campaign": t_ccd, **{f"ccd_{k}": v for k, v in ccd["timings_s"].items()},
                      "mbtr_features": t_feat, "krr_choice_and_fit": t_krr},
        "plots": plots,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=1, default=float))
    print(json.dumps({k: record[k] for k in ("n_structures", "rmse_ratio_ccdnn_over_krr")}
                     | {"ccdnn_test_rmse": record["ccdnn"]["test_rmse_mev_per_atom"],
                        "krr_test_rmse": record["mbtr_krr"]["test_rmse_mev_per_atom"]}, indent=1))
    print(f"wrote {args.output} and plots under {args.plots}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
