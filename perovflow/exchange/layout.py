"""Names of the exported files and what they mean (no imports: the command line reads them
when it builds its parser)."""
from __future__ import annotations

FORMATS = {"extxyz": ".xyz", "ase-db": ".db"}
LAYOUTS = ("perovflow", "paper")
SET_NAMES = {
    "perovflow": {"train": "train_set", "test": "test_set", "active_learning": "al_data",
                  "calibration": "calibration_set"},
    # the file names of the paper's dataset (Homm et al. 2025, Zenodo 10.5281/zenodo.14056015);
    # it has no calibration set, so a campaign's keeps perovflow's name
    "paper": {"train": "sp_train_set", "test": "sp_test_set", "active_learning": "al_data",
              "calibration": "calibration_set"},
}
# campaign role of the structures of each set's file (perovflow import reads them back so)
ROLE_OF_FILE = {names[name]: role for names in SET_NAMES.values()
                for name, role in (("train", "pool"), ("test", "test"), ("active_learning", "snapshot"),
                                   ("calibration", "calibration"))}
