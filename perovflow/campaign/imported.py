"""The initial dataset from imported labels (``labelling.engine: imported``): the pool and
the test set are the structures of the label set (those imported with role ``test``, e.g.
from ``sp_test_set.xyz``, are the test set; those with role ``calibration``, from
``calibration_set.xyz``, set sigma's amplitude; every other one is the pool), and the labelling
step reuses the stored labels, so no engine runs. What follows (featurize, select, label,
fit) is the campaign's ordinary initial stage."""
from __future__ import annotations

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.initial import featurize_and_select
from perovflow.campaign.next import Next
from perovflow.settings import CampaignError, check_cluster_sizes


class ImportedPoolError(ValueError):
    """The imported label set cannot serve as the campaign's pool (nothing was written)."""


def imported_pool(ctx: CampaignContext) -> Next:
    """Make the label set's structures the campaign's pool and test set, then featurize and select."""
    store, engine, settings = ctx.store, ctx.engine, ctx.settings
    name = engine.name
    labels = store.label_set(name, engine.settings_hash)
    if not labels:
        raise ImportedPoolError(f"labelling.options.labels: no label set {name!r} in this database; import one "
                                f"first with `perovflow import FILES --campaign C --labels {name}`")
    declared = {bool(doc.get("is_dft")) for doc in labels}
    if len(declared) > 1:
        raise ImportedPoolError(f"labelling.options.labels: label set {name!r} mixes DFT and non-DFT labels; "
                                "import them as two label sets")
    if declared != {engine.is_dft}:
        [as_imported] = declared
        raise ImportedPoolError(f"labelling.options.is_dft: {str(engine.is_dft).lower()}, but label set {name!r} "
                                f"was imported with is_dft {str(as_imported).lower()}; allowed: "
                                f"{str(as_imported).lower()}")
    labels.sort(key=lambda doc: (str((doc.get("source") or {}).get("file", "")),
                                 int((doc.get("source") or {}).get("index", 0)), doc["structure_id"]))
    test = [doc["structure_id"] for doc in labels if doc["role"] == "test"]
    calibration = [doc["structure_id"] for doc in labels if doc["role"] == "calibration"]
    pool = [doc["structure_id"] for doc in labels if doc["role"] not in ("test", "calibration")]
    if not test:
        raise ImportedPoolError(f"labelling.options.labels: label set {name!r} has no test structures; import a "
                                "test file with it (sp_test_set.xyz, test_set.xyz, or frames with info role=test)")
    try:
        check_cluster_sizes(settings, len(pool))
    except CampaignError as exc:
        raise ImportedPoolError(f"{exc} (the pool of label set {name!r})") from None
    structures = {"pool": store.structures(pool), "test": store.structures(test),
                  "calibration": store.structures(calibration)}
    species = set(settings.species)
    foreign = sorted({s for atoms in [*structures["pool"], *structures["test"], *structures["calibration"]]
                      for s in atoms.get_chemical_symbols()} - species)
    if foreign:
        raise ImportedPoolError(f"system: label set {name!r} has {', '.join(foreign)}, which the campaign's "
                                f"system ({', '.join(sorted(species))}) does not; allowed: a system with them")
    for role, ids in (("pool", pool), ("test", test), ("calibration", calibration)):
        for index, atoms in enumerate(structures[role]):
            atoms.info["pool_index"] = index
        store.add_structures(structures[role], role=role)
        store.set_member_roles(ids, role)
    store.ensure_indexes()
    sizes = {"pool": len(pool), "test": len(test), **({"calibration": len(calibration)} if calibration else {})}
    return Next(jobs=tuple(featurize_and_select(settings, sizes)), record=sizes)
