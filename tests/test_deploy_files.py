"""Docker and cluster templates: parsed and rendered (no Docker engine or scheduler here)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fireworks.utilities.fw_serializers import load_object_from_file

REPO = Path(__file__).resolve().parents[1]


def test_compose_has_mongodb_and_rlaunch_workers():
    compose = yaml.safe_load((REPO / "docker/compose.yaml").read_text())
    services = compose["services"]
    assert services["mongodb"]["image"].startswith("mongo:")
    worker = services["worker"]
    assert worker["command"][:2] == ["rlaunch", "-l"] and "rapidfire" in worker["command"]
    assert worker["depends_on"]["mongodb"]["condition"] == "service_healthy"
    assert (REPO / "docker" / worker["build"]["dockerfile"].split("/")[-1]).exists()
    mounted = worker["volumes"][0].split(":")[0]
    launchpad = yaml.safe_load((REPO / "docker" / mounted).read_text())
    assert launchpad["host"] == "mongodb://mongodb:27017"  # the compose service name


def test_dockerfile_installs_cpu_torch_before_the_package_and_the_hook():
    lines = (REPO / "docker/Dockerfile").read_text()
    # the stand-in oracles are extras now; the compose file brings MongoDB, so no embedded-db
    install = lines.index("pip install --no-cache-dir -c constraints.txt '.[chgnet,tblite,ccd]'")
    assert lines.index("torch==2.13.0") < install
    assert "perovflow hook install" in lines


@pytest.mark.parametrize("queue", ["dft", "ml"])
@pytest.mark.parametrize(("system", "directive"), [("slurm", "#SBATCH"), ("pbs", "#PBS")])
def test_queue_adapters_render_job_scripts(system, directive, queue, tmp_path):
    adapter = load_object_from_file(str(REPO / "launchers" / f"{system}_{queue}.yaml"))
    script = adapter.get_script_str(str(tmp_path))
    assert directive in script
    assert "rlaunch" in script and "rapidfire" in script
    assert ".venv/bin/activate" in script
    # each template's worker takes only its category's jobs
    assert f"my_fworker_{queue}.yaml" in script
    worker = yaml.safe_load((REPO / "launchers" / f"my_fworker_{queue}.yaml").read_text())
    from perovflow.settings import QueueSettings

    assert worker["category"] == getattr(QueueSettings(), queue)
    # ML: one core and a worker that waits through the labels; DFT: ends when no label is left
    nlaunches = script.split("--nlaunches ")[1].split()[0]
    assert nlaunches == ("infinite" if queue == "ml" else "0")
    if queue == "ml":
        assert ("--cpus-per-task=1" in script and "--ntasks=1" in script) if system == "slurm" else "ppn=1" in script
    else:
        assert "--nodes=2" in script and "--ntasks-per-node=128" in script if system == "slurm" else "nodes=2:ppn=128" in script


def test_launchpad_template_points_at_the_embedded_server():
    from perovflow.store import server
    from perovflow.store.connection import from_launchpad_file

    target = from_launchpad_file(REPO / "launchers/my_launchpad.yaml")
    assert target.uri.endswith(f":{server.DEFAULT_PORT}") and target.database == "perovflow"
