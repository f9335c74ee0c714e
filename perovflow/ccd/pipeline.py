"""Run a CCD-NN campaign in-process, with progress output; every step writes its result
under the output folder, and oracle labels are cached there (re-runs reuse them)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
from ase.io import write

from perovflow.ccd.config import CCDCampaign
from perovflow.ccd.descriptor import CCDDescriptor, CCDSettings, ClusterSet, CubicPerovskite
from perovflow.ccd.labels import CachedOracle
from perovflow.ccd.networks.model_selection import FeatureBank, cross_validate
from perovflow.ccd.plots import plot_path
from perovflow.ccd.sampler import PATH_AXES, CsPbBr3Sampler, evaluation_paths
from perovflow.ccd.sampler.sampler import ORTHORHOMBIC, TETRAGONAL
from perovflow.engines import make_engine
from perovflow.extras import require


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out test rows (never seen in training or model choice) and training rows."""
    perm = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(8,))).permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def run_campaign(campaign: CCDCampaign, out: Path, progress: Callable[[str], None] = print,
                 engine=None) -> dict:
    """Sampler -> labels -> k-fold choice -> committee -> test -> paths. Returns the results."""
    torch = require("torch")  # heavy: loaded when a campaign runs, not when the module is imported

    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    if engine is None:
        engine = make_engine(campaign.engine, **campaign.engine_options)
    oracle = CachedOracle(engine, out / "labels.json", progress)
    progress(f"[1/6] sampling CsPbBr3 2x2x2 (oracle: {engine.name}, is_dft={engine.is_dft})")
    t = time.perf_counter()
    guess = CubicPerovskite(a0=campaign.sampler.a0_guess)
    fp_desc = CCDDescriptor(guess, CCDSettings(clusters=ClusterSet(n_pairs=4, n_triplets=0), order=2))
    fingerprint = lambda s: np.concatenate([f.sum(axis=1) for f in fp_desc.cluster_features(s)], axis=1)  # noqa: E731
    sample = CsPbBr3Sampler(campaign.sampler, oracle, fingerprint, progress).run()
    structures = sample.structures
    timings["sampling"] = time.perf_counter() - t

    progress(f"[2/6] labelling {len(structures)} structures")
    t = time.perf_counter()
    y = oracle(structures)
    oracle.save()
    timings["labelling"] = time.perf_counter() - t
    for a, e in zip(structures, y):
        a.info["energy_per_atom"] = float(e)
    write(out / "dataset.extxyz", structures, format="extxyz")

    train, test = split(len(structures), campaign.test_fraction, campaign.seed)
    np.savez(out / "split.npz", train=train, test=test)
    progress(f"[3/6] features (a0 = {sample.a0:.4f} A): {len(train)} training, {len(test)} held-out test")
    t = time.perf_counter()
    reference = CubicPerovskite(a0=sample.a0)
    bank = FeatureBank(reference, campaign.candidates, campaign.metric, campaign.optimised, campaign.optimised_sigma)
    bank.add(structures)
    timings["features"] = time.perf_counter() - t

    progress(f"[4/6] {campaign.folds}-fold cross-validation of {len(campaign.candidates)} candidates")
    t = time.perf_counter()
    train_bank = _rows(bank, train)
    cv = [cross_validate(train_bank, y[train], c, campaign.folds, campaign.schedule, campaign.seed, progress)
          for c in campaign.candidates]
    best_i = int(np.argmin([r["cv_rmse"] for r in cv]))
    best = campaign.candidates[best_i]
    timings["cross_validation"] = time.perf_counter() - t
    progress(f"      chosen: {best.label}")

    progress(f"[5/6] committee of {campaign.members} networks on all {len(train)} training structures")
    t = time.perf_counter()
    model = bank.committee(best, campaign.members, campaign.schedule, campaign.seed)
    model.fit(None, y[train], cluster_features=bank.subset(best, train), progress=progress)
    model.save(out / "model")
    test_features = bank.subset(best, test)
    pred_test = model.predict(cluster_features=test_features)
    sigma_test = model.sigma(cluster_features=test_features)
    pred_train = model.predict(cluster_features=bank.subset(best, train))
    rmse = float(np.sqrt(np.mean((pred_test - y[test]) ** 2)))
    rmse_train = float(np.sqrt(np.mean((pred_train - y[train]) ** 2)))
    timings["committee"] = time.perf_counter() - t
    progress(f"      test RMSE {1e3 * rmse:.2f} meV/atom (train {1e3 * rmse_train:.2f}); "
             f"mean sigma {1e3 * float(sigma_test.mean()):.2f} meV/atom")

    progress("[6/6] evaluation paths")
    t = time.perf_counter()
    paths = evaluation_paths(sample.a0, sample.best_angles.get(TETRAGONAL, 6.0) or 6.0,
                             sample.best_angles.get(ORTHORHOMBIC, 6.0) or 6.0, campaign.path_points)
    path_results = {}
    for name, (x, path_structures) in paths.items():
        e_oracle = oracle(path_structures)
        e_model = model.predict(path_structures)
        s_model = model.sigma(path_structures)
        png = plot_path(out / "plots" / f"{name}.png", x, e_oracle, e_model, s_model, PATH_AXES[name],
                        f"CsPbBr3 {name.replace('_', ' ')}: CCD-NN vs {engine.name}", engine.name)
        path_results[name] = {"x": x.tolist(), "oracle": e_oracle.tolist(), "model": e_model.tolist(),
                              "sigma": s_model.tolist(), "plot": str(png),
                              "rmse": float(np.sqrt(np.mean((e_model - e_oracle) ** 2)))}
    oracle.save()
    timings["paths"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_all
    sources: dict[str, int] = {}
    for a in structures:
        sources[a.info["source"]] = sources.get(a.info["source"], 0) + 1
    results = {
        "campaign": campaign.name, "oracle": {"engine": engine.name, "is_dft": engine.is_dft,
                                              "settings": engine.settings, "calls": oracle.calls,
                                              "seconds": oracle.seconds},
        "a0": sample.a0, "best_tilt_angles": sample.best_angles, "n_structures": len(structures),
        "sources": sources, "n_train": int(len(train)), "n_test": int(len(test)),
        "cross_validation": cv, "chosen": best.as_dict(),
        "test_rmse_mev_per_atom": 1e3 * rmse, "train_rmse_mev_per_atom": 1e3 * rmse_train,
        "test_mean_sigma_mev_per_atom": 1e3 * float(sigma_test.mean()),
        "test_sigma_error_correlation": float(np.corrcoef(sigma_test, np.abs(pred_test - y[test]))[0, 1])
        if len(test) > 2 else None,
        "paths": path_results, "timings_s": timings,
        # per structure, eV/atom: what the CCD paper's Fig. 8 plots (parity, error against energy)
        "test_energies": {"oracle": y[test].tolist(), "model": pred_test.tolist(), "sigma": sigma_test.tolist()},
        "train_energies": {"oracle": y[train].tolist(), "model": pred_train.tolist()}, "model": str(out / "model.npz"),
        "energy_std_mev_per_atom": 1e3 * float(y.std()),
    }
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    progress(f"done in {timings['total']:.0f} s: results in {out / 'results.json'}, plots in {out / 'plots'}")
    return results


def _rows(bank: FeatureBank, rows: np.ndarray) -> FeatureBank:
    """A view of ``bank`` holding only ``rows`` (the descriptor is shared)."""
    view = FeatureBank.__new__(FeatureBank)
    view.__dict__.update(bank.__dict__)
    view.features = [f[rows] for f in bank.features]
    return view
