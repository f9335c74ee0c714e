from __future__ import annotations

import pytest

from tests.campaign.helpers import small_settings


@pytest.fixture
def tiny_campaign():
    return small_settings()
