"""Test session: one real MongoDB-protocol server over TCP for everything.

By default the session starts its own SecantusDB (``secantusd-py``) on a free port with
a temporary folder and stops it by pid at the end. With ``PEROVFLOW_TEST_MONGO_URI`` set,
the same tests run against that server instead and nothing is started.
"""
from __future__ import annotations

import os
import uuid
from urllib.parse import quote_plus

import pytest
from pymongo import MongoClient

import perovflow  # noqa: F401  (FireWorks fixes; the imports below make this a perovflow process)
from perovflow.store import server
from perovflow.store.connection import DatabaseTarget


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory):
    given = os.environ.get("PEROVFLOW_TEST_MONGO_URI")
    if given:
        yield given
        return
    storage = tmp_path_factory.mktemp("secantus") / "db"
    # with authentication, as users get it; without an fsync per commit: the data is thrown away
    state, _ = server.start(port=server.free_port(), storage=storage, sync_on_commit=False)
    try:
        yield uri_with_credentials(state)
    finally:
        server.stop(storage)


def uri_with_credentials(state: server.ServerState) -> str:
    """The test server's URI with its user and password in it, so that tests can use plain
    ``MongoClient(uri)`` (never do this outside tests: a URI gets printed and logged)."""
    options = state.client_options()
    return (f"mongodb://{quote_plus(options['username'])}:{quote_plus(options['password'])}@{state.host}:"
            f"{state.port}/?authSource={options['authSource']}")


@pytest.fixture
def target(mongo_uri):
    """A fresh database on the session's server, dropped afterwards."""
    name = f"pftest_{uuid.uuid4().hex[:10]}"
    yield DatabaseTarget(uri=mongo_uri, database=name)
    client = MongoClient(mongo_uri)
    client.drop_database(name)
    client.close()


@pytest.fixture
def mongo_db(target):
    client = MongoClient(target.uri, tz_aware=True)
    yield client[target.database]
    client.close()


@pytest.fixture(scope="module")
def module_target(mongo_uri):
    """A fresh database for one test file's shared campaign (a module fixture runs it once
    for several tests), dropped after the file."""
    name = f"pftest_{uuid.uuid4().hex[:10]}"
    yield DatabaseTarget(uri=mongo_uri, database=name)
    client = MongoClient(mongo_uri)
    client.drop_database(name)
    client.close()


# Test files that take longest, slowest first (test durations of the CI log of 2026-11-30,
# scaled by what the shared campaigns and smaller sizes saved here). `make test` hands whole
# files to two processes in collection order (`--dist loadfile --no-loadscope-reorder`);
# started last, one of these would leave the other process idle for minutes. A file missing
# here keeps its place after them.
SLOWEST_FIRST = (
    "tests/fireworks/test_active_learning.py",
    "tests/reliability/test_failures_surface.py",
    "tests/reproduce/test_reproduce.py",
    "tests/campaign/test_local.py",
    "tests/reproduce/test_fig45.py",
    "tests/fireworks/test_job_categories.py",
    "tests/fireworks/test_engine_failure.py",
    "tests/reproduce/test_fig7_ccd.py",
    "tests/campaign/test_krr_forces_campaign.py",
    "tests/store/test_server.py",
    "tests/analysis/test_report.py",
    "tests/reliability/test_backup_restore.py",
    "tests/exchange/test_round_trip.py",
    "tests/store/test_query_recipes.py",
    "tests/fireworks/test_initial_workflow.py",
    "tests/engines/cp2k/test_cp2k_scratch.py",
    "tests/reliability/test_stale_lock.py",
    "tests/fireworks/test_fixes.py",
    "tests/reliability/test_campaign_isolation.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: in-file order kept
