"""Which engine's labels are a campaign's own, before its first model exists."""
from __future__ import annotations

from pymongo import MongoClient

from perovflow.engines import make_engine
from perovflow.exchange.dataset import label_source
from perovflow.settings import parse_campaign
from perovflow.store.store import Store
from tests.campaign.helpers import small_campaign


def test_a_campaign_without_a_model_takes_the_engine_of_its_stored_settings(target):
    """Settings are stored as ``CampaignSettings.as_dict()`` writes them (``name``, not the
    file's ``campaign``); reading them back as a campaign file failed with "name: unknown key"."""
    settings = parse_campaign(small_campaign("fresh"))
    client = MongoClient(target.uri, tz_aware=True)
    try:
        store = Store(client[target.database], "fresh")
        store.ensure_indexes()
        store.save_settings(settings.as_dict())
        source = label_source(store)
    finally:
        client.close()
    engine = make_engine(settings.labelling.engine, **settings.labelling.options)
    assert (source.engine, source.settings_hash) == (engine.name, engine.settings_hash)
