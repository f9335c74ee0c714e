"""How well each model of a finished campaign knows its own error, measured on an independent
test set several times larger than the campaign's (issue 16: RMSE / mean sigma per sigma
tercile, Spearman correlation of sigma with |error|, miscalibration area), with bootstrap
95 % intervals, beside the same numbers on the campaign's own test set.

The independent set is drawn like the campaign's test set (same system, phases and random
deviations) from another seed, and labelled with the campaign's engine. A campaign's test
set of 100 structures puts about 33 in a tercile, so one ratio moves by about +-0.1 from one
draw to the next: the intervals say which departures from 1 are real.

Run, with the campaign's database running (``perovflow db start``):
``python benchmarks/bench_calibration.py --campaign demo [--per-composition 5] [--seed 8]``.
Prints a table and saves JSON to ``benchmarks/results/calibration_<campaign>.json``. Stored:
``calibration_demo.json`` (the demo, sigma from 100 held-out structures) and
``calibration_demo_loo.json`` (the demo before it had them: sigma by leave-one-out).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perovflow.campaign.context import CampaignContext  # noqa: E402
from perovflow.models.calibration import calibration, rmse_over_sigma  # noqa: E402
from perovflow.settings import CampaignSettings  # noqa: E402
from perovflow.store.connection import resolve  # noqa: E402
from perovflow.store.store import Store  # noqa: E402
from perovflow.structures import generate_test_set  # noqa: E402
from perovflow.units import EV_TO_MEV  # noqa: E402


def independent_test_set(ctx: CampaignContext, per_composition: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and engine energies (eV/atom) of a fresh test set."""
    from tqdm import tqdm

    settings = ctx.settings
    if seed == settings.pool.seed:
        raise ValueError(f"--seed {seed} is the campaign's pool.seed: its test set would be drawn again")
    atoms = generate_test_set(ctx.system, phases=tuple(settings.phases), per_composition=per_composition, seed=seed)
    features = ctx.descriptor.create(atoms)
    energies = np.array([ctx.engine.single_point(a).energy / len(a)
                         for a in tqdm(atoms, desc=f"{ctx.engine.name} labels (independent test set)")])
    return features, energies


def ratio_intervals(errors: np.ndarray, sigmas: np.ndarray, samples: int, seed: int) -> list[list[float]]:
    """Bootstrap 95 % interval of each tercile's RMSE / mean sigma."""
    rng = np.random.default_rng(seed)
    draws = np.array([rmse_over_sigma(errors[rows], sigmas[rows])
                      for rows in (rng.integers(0, len(errors), len(errors)) for _ in range(samples))])
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    return [[round(float(a), 3), round(float(b), 3)] for a, b in zip(low, high)]


def measured(model, x: np.ndarray, y: np.ndarray, samples: int, seed: int) -> dict:
    errors = (model.predict(x) - y) * EV_TO_MEV
    sigmas = model.sigma(x) * EV_TO_MEV
    c = calibration(errors, sigmas)
    return {"n": c.n, "mae_mev": round(float(np.abs(errors).mean()), 4),
            "mean_sigma_mev": round(float(sigmas.mean()), 4),
            "rmse_over_sigma": [round(r, 3) for r in c.rmse_over_sigma],
            "rmse_over_sigma_95": ratio_intervals(errors, sigmas, samples, seed),
            "spearman": None if c.spearman is None else round(c.spearman, 3),
            "miscalibration_area": round(c.miscalibration_area, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", default="demo")
    parser.add_argument("--per-composition", type=int, default=5, help="independent test structures per composition and phase")
    parser.add_argument("--seed", type=int, default=8, help="random seed of the independent set (not the campaign's)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    target = resolve(database=None)
    store = Store(target.client()[target.database], args.campaign)
    stored = store.stored_settings()
    if stored is None:
        raise SystemExit(f"campaign {args.campaign!r} has no stored settings in {target.database}")
    ctx = CampaignContext(CampaignSettings.from_dict(stored), store)
    began = time.perf_counter()
    x_new, y_new = independent_test_set(ctx, args.per_composition, args.seed)
    label_seconds = time.perf_counter() - began
    test_ids, x_test = ctx.features("test")
    energies = ctx.labelled_energies(test_ids)
    rows = [i for i, sid in enumerate(test_ids) if sid in energies]
    x_own, y_own = x_test[rows], np.array([energies[test_ids[i]] for i in rows])
    results = []
    for record in store.models():
        model, meta = ctx.model(record["tag"])
        results.append({"version": record["version"], "tag": record["tag"], "n_train": len(meta["training_ids"]),
                        "amplitude_rule": record.get("amplitude_rule"),
                        "sigma_calibration_rows": record.get("metrics", {}).get("sigma_calibration_rows"),
                        "campaign_test_set": measured(model, x_own, y_own, args.bootstrap, 0),
                        "independent_test_set": measured(model, x_new, y_new, args.bootstrap, 0)})
        own, new = results[-1]["campaign_test_set"], results[-1]["independent_test_set"]
        print(f"v{record['version']:<3d} {record['tag']:28s} n={results[-1]['n_train']:5d} "
              f"{results[-1]['amplitude_rule']}  "
              f"own {' '.join(f'{r:.2f}' for r in own['rmse_over_sigma'])}  "
              f"independent {' '.join(f'{r:.2f} [{a:.2f},{b:.2f}]' for r, (a, b) in zip(new['rmse_over_sigma'], new['rmse_over_sigma_95']))}"
              f"  Spearman {new['spearman']}  area {new['miscalibration_area']:.3f}", flush=True)
    out = args.out or ROOT / "benchmarks" / "results" / f"calibration_{args.campaign}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"campaign": args.campaign, "engine": ctx.engine.name,
                               "independent_test_set": {"per_composition": args.per_composition, "seed": args.seed,
                                                        "n": len(y_new), "label_seconds": round(label_seconds, 1)},
                               "campaign_test_set_n": len(y_own), "bootstrap_samples": args.bootstrap,
                               "models": results}, indent=1) + "\n")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
