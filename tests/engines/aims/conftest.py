from __future__ import annotations

from pathlib import Path

import pytest
from aims_testkit import make_species_dir


@pytest.fixture
def species_dir(tmp_path: Path) -> Path:
    return make_species_dir(tmp_path)
