"""Out-of-range settings fail early with a ValueError naming the field and what is allowed."""
from __future__ import annotations

import pytest

from perovflow.structures import (
    PerovskiteSystem,
    PerturbationSettings,
    build_structure,
    generate_pool,
    generate_relaxation_starts,
)

SYSTEM = PerovskiteSystem("Cs", "Pb", ("Cl", "Br"))


@pytest.mark.parametrize("name", ["displacement_std_a", "displacement_std_b", "displacement_std_x",
                                  "tilt_std", "volume_std", "ca_ratio_std", "gamma_std"])
def test_negative_spread(name):
    with pytest.raises(ValueError, match=rf"{name}.*allowed: 0 <= {name}"):
        PerturbationSettings(**{name: -0.1})


def test_non_numeric_spread():
    with pytest.raises(ValueError, match="volume_std.*expected a number"):
        PerturbationSettings(volume_std="big")


@pytest.mark.parametrize("tilts", [{"Pnma": (35.0, 8.0)}, {"P4/mbm": (31.0,)}, {"I4/mcm": -1.0}])
def test_tilt_beyond_30_degrees(tilts):
    with pytest.raises(ValueError, match=r"tilt_angles.*allowed: 0 <= tilt <= 30"):
        PerturbationSettings(tilt_angles=tilts)


def test_tilt_beyond_30_degrees_in_build_structure():
    with pytest.raises(ValueError, match=r"tilt_angles\['Pnma'\].*allowed: 0 <= tilt <= 30"):
        build_structure(SYSTEM, "Pnma", tilt_angles=[8.0, 30.5])


def test_wrong_number_of_tilts_and_unknown_phase_key():
    with pytest.raises(ValueError, match=r"tilt_angles\['Pnma'\].*two"):
        PerturbationSettings(tilt_angles={"Pnma": (8.0,)})
    with pytest.raises(ValueError, match=r"phase.*allowed"):
        PerturbationSettings(tilt_angles={"R3c": (8.0,)})


@pytest.mark.parametrize(("kwargs", "field"), [({"a": "Na"}, "a"), ({"b": "Sr"}, "b"),
                                          ({"x": ("Cl", "At")}, "x"), ({"x": ()}, "x"),
                                          ({"x": ("Cl", "Cl")}, "x")])
def test_unknown_species(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}: .*"):
        PerovskiteSystem(**kwargs)


def test_unknown_species_lists_allowed():
    with pytest.raises(ValueError, match=r"allowed: \['Pb', 'Sn', 'Ge'\]"):
        PerovskiteSystem("Cs", "Sr", ("Cl",))
    with pytest.raises(ValueError, match=r"allowed: \['F', 'Cl', 'Br', 'I'\]"):
        PerovskiteSystem("Cs", "Pb", ("O",))


def test_lattice_constants_field():
    with pytest.raises(ValueError, match=r"lattice_constants: key 'I'.*allowed: \['Cl', 'Br'\]"):
        PerovskiteSystem("Cs", "Pb", ("Cl", "Br"), lattice_constants={"I": 6.3})
    with pytest.raises(ValueError, match=r"lattice_constants\['Br'\].*out of range"):
        PerovskiteSystem("Cs", "Pb", ("Cl", "Br"), lattice_constants={"Br": -6.3})
    with pytest.raises(ValueError, match=r"lattice_constants: no default for RbPbBr3"):
        PerovskiteSystem("Rb", "Pb", ("Br",))
    assert PerovskiteSystem("Rb", "Pb", ("Br",), lattice_constants={"Br": 5.7}).end_members == (5.7,)


def test_site_list_must_have_24_known_halides():
    with pytest.raises(ValueError, match=r"halides: .*exactly 24"):
        build_structure(SYSTEM, "Pnma", ["Cl"] * 23)
    with pytest.raises(ValueError, match=r"halides: .*\['I'\].*allowed: \['Cl', 'Br'\]"):
        build_structure(SYSTEM, "Pnma", ["Cl"] * 23 + ["I"])


def test_counts_and_seed():
    with pytest.raises(ValueError, match="per_composition: expected a positive integer"):
        generate_pool(SYSTEM, per_composition=0)
    with pytest.raises(ValueError, match="seed: expected a non-negative integer"):
        generate_pool(SYSTEM, per_composition=1, seed=-1)
    with pytest.raises(ValueError, match="per_phase: expected a positive integer"):
        generate_relaxation_starts(SYSTEM, per_phase=0)
    with pytest.raises(ValueError, match="phases: duplicates"):
        generate_pool(SYSTEM, phases=["cubic", "Pm-3m"], per_composition=1)


def test_system_parse():
    system = PerovskiteSystem.parse("Cs Sn Cl,Br,I")
    assert (system.a, system.b, system.x) == ("Cs", "Sn", ("Cl", "Br", "I"))
    assert system.label == "CsSn(Cl/Br/I)3"
    with pytest.raises(ValueError, match="system: expected 'A B X1,X2"):
        PerovskiteSystem.parse("CsSnI3")
