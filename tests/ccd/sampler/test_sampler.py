"""The CsPbBr3 sampler of Thomas et al. 2019: tilt systems, modes, strains, random n-sphere samples, paths."""
from __future__ import annotations

import numpy as np
import pytest
import spglib

from perovflow.ccd.descriptor import CCDDescriptor, CCDSettings, ClusterSet, CubicPerovskite
from perovflow.ccd.sampler import (
    PATHS,
    TILT_SYSTEMS,
    CsPbBr3Sampler,
    SamplerSettings,
    build_tilted,
    displacement_modes,
    evaluation_paths,
    parse_glazer,
    strain_irreps,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # spglib's own


def _space_group(atoms) -> int:
    return spglib.get_symmetry_dataset((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers),
                                       symprec=1e-3).number


@pytest.mark.parametrize("symbol", list(TILT_SYSTEMS))
def test_the_15_tilt_systems_have_their_space_groups(symbol):
    assert len(TILT_SYSTEMS) == 15
    assert _space_group(build_tilted(symbol, 8.0, 2.95)) == TILT_SYSTEMS[symbol]
    assert _space_group(build_tilted(symbol, 8.0, 2.95, fixed_cell=True)) == TILT_SYSTEMS[symbol]


def test_glazer_symbols_are_checked():
    mag, phase = parse_glazer("a+b-b-")
    assert mag[1] == mag[2] != mag[0] and list(phase) == [True, False, False]
    with pytest.raises(ValueError, match="Glazer"):
        parse_glazer("a+b-")


def test_symmetry_adapted_displacement_modes():
    blocks = displacement_modes((2, 2, 2))
    basis = np.hstack(blocks)
    assert basis.shape == (120, 117)  # 3 x 40 minus the three translations
    assert np.allclose(basis.T @ basis, np.eye(117), atol=1e-10)
    assert np.abs(basis.reshape(40, 3, -1).sum(axis=0)).max() < 1e-10  # no net translation
    assert strain_irreps() == {"A1g": 1, "Eg": 1, "T2g": 1}


def _toy_energy(structures):
    out = []
    for a in structures:
        d = a.get_all_distances(mic=True)
        pb, br = a.numbers == 82, a.numbers == 35
        out.append(np.sum((np.sort(d[pb][:, br], axis=1)[:, :6] - 2.95) ** 2) / len(a) - 0.001 * a.get_volume() / len(a))
    return np.array(out)


def test_sampler_runs_every_step_and_checks_uniqueness():
    desc = CCDDescriptor(CubicPerovskite(a0=5.9), CCDSettings(clusters=ClusterSet(4, 0, True), order=2))
    fp = lambda s: np.concatenate([f.sum(axis=1) for f in desc.cluster_features(s)], axis=1)  # noqa: E731
    settings = SamplerSettings(tilt_systems=("a0a0a0", "a0a0c+", "a+b-b-"), scan_angles=(4.0, 8.0),
                               modes_per_system=2, mode_amplitudes=(0.05,), strain_magnitudes=(0.02,),
                               strain_directions=6, n_random=12, interpolation_points=2)
    result = CsPbBr3Sampler(settings, _toy_energy, fp).run()
    sources = {a.info["source"] for a in result.structures}
    assert sources == {"reference", "tilt_scan", "modes", "strain", "random", "interpolation"}
    assert 5.5 < result.a0 < 6.3
    strains = [a for a in result.structures if a.info["source"] == "strain"]
    assert 3 <= len(strains) < 2 + 6 + 6  # one per symmetrically distinct direction (wedge)
    # every structure maps onto the reference supercell
    CCDDescriptor(CubicPerovskite(a0=result.a0), CCDSettings(clusters=ClusterSet(1, 0, False))).ccds(result.structures)
    # a huge tolerance rejects everything after the first
    strict = CsPbBr3Sampler(SamplerSettings(n_random=5, uniqueness_tolerance=1e9), _toy_energy, fp)
    assert strict.random(5.9, {"a0a0a0": 0.0}, [build_tilted("a0a0a0", 0, 2.95)]) == []


def test_evaluation_paths():
    paths = evaluation_paths(5.9, 6.0, 6.0, n=4)
    assert list(paths) == list(PATHS)
    x, structures = paths["interpolation"]
    assert x[0] == 0 and x[-1] == 2 and len(structures) == len(x)
    x, structures = paths["in_phase_tilt"]
    assert np.allclose(structures[-1].cell.lengths(), structures[0].cell.lengths())  # cubic cell kept
    with pytest.raises(ValueError, match="sampler.tilt_systems"):
        SamplerSettings(tilt_systems=("a+b+",))
