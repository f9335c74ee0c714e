"""``perovflow hook install|uninstall|status``, and ``db start``/``init`` where the hook
cannot be written (run in-process: the hook's .pth file is pointed into tmp_path)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from perovflow.cli import database, main
from perovflow.fireworks import hook


@pytest.fixture
def pth_in(monkeypatch):
    def point_to(folder):
        path = folder / hook.PTH_NAME
        monkeypatch.setattr(hook, "pth_path", lambda: path)
        return path
    return point_to


def test_uninstall_then_status_says_not_installed(tmp_path, pth_in, capsys):
    path = pth_in(tmp_path)
    assert main(["hook", "install"]) == 0
    assert main(["hook", "status"]) == 0 and path.read_text() == hook.PTH_LINE
    assert main(["hook", "uninstall"]) == 0
    assert not path.exists()
    assert main(["hook", "status"]) == 3
    assert main(["hook", "uninstall"]) == 0  # nothing left to remove is no error
    out = capsys.readouterr().out.splitlines()
    assert out[-3:] == [f"start-up hook removed: {path}", "not installed", f"not installed: {path} does not exist"]


@pytest.fixture
def unwritable_site_packages(tmp_path, pth_in):
    # a file where the folder should be: unwritable for root too, unlike a chmod 555 folder
    blocker = tmp_path / "site-packages"
    blocker.write_text("")
    return pth_in(blocker)


def test_db_start_goes_on_without_the_hook_where_it_cannot_be_written(unwritable_site_packages, monkeypatch,
                                                                      tmp_path, capsys):
    state = SimpleNamespace(pid=4242, uri="mongodb://127.0.0.1:27999", storage=tmp_path / "db", auth=False,
                            tls_ca=None)
    monkeypatch.setattr(database.server, "start", lambda port, storage, **options: (state, True))
    assert main(["db", "start", "--storage", str(tmp_path / "db")]) == 0
    out, err = capsys.readouterr()
    assert "started: SecantusDB pid 4242" in out
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"warning: start-up hook not installed ({unwritable_site_packages}: ")
    assert "rlaunch (also the workers of `perovflow run`), lpad and qlaunch run without perovflow's FireWorks fixes" in err


def test_init_goes_on_without_the_hook_where_it_cannot_be_written(unwritable_site_packages, monkeypatch,
                                                                  tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--uri", "mongodb://127.0.0.1:27999", "-d", "config"]) == 0
    assert (tmp_path / "config" / "my_launchpad.yaml").exists()
    assert capsys.readouterr().err.startswith("warning: start-up hook not installed")


def test_hook_install_where_it_cannot_be_written_is_an_error_not_a_traceback(unwritable_site_packages, capsys):
    assert main(["hook", "install"]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot install the start-up hook {unwritable_site_packages}: ")
