"""Each connection failure gets its own remedy, for this OS and this machine.

A refused port is provoked for real (a free port; this project's sandbox, started and
stopped); what this machine has installed is read from disk by ``localpg`` and the remedy
follows it: install advice only where no PostgreSQL is found at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rfsetup.core import localpg
from rfsetup.core.connect import connect, server_answered, verdict
from rfsetup.core.embedded import EmbeddedPostgres, free_port
from rfsetup.core.errors import RfsetupError
from rfsetup.core.remedies import os_family, server_down_remedy, timeout_remedy
from rfsetup.core.settings import STATE_DIR, normalize_database_url
from tests.conftest import FAST

INSTALL_WORDS = ("apt-get install", "brew install", "choco install")
OTHER_OS_WORDS = {"Linux": ("brew ", "choco ", "net start"),
                  "Darwin": ("apt-get", "systemctl", "choco ", "net start"),
                  "Windows": ("apt-get", "systemctl", "brew ")}


def _refused(url: str) -> RfsetupError:
    with pytest.raises(RfsetupError) as info:
        connect(normalize_database_url(url)).close()
    assert info.value.kind == "server_down"
    return info.value


def test_a_refused_local_port_follows_what_this_machine_has(project_dir: Path) -> None:
    err = _refused(f"postgresql://u:pw@127.0.0.1:{free_port()}/raptorflow")
    hint = err.hint or ""
    found = localpg.find(os_family())
    for word in OTHER_OS_WORDS[os_family()]:
        assert word not in hint, f"another OS's command in {hint!r}"
    if found.anything:  # a server here, or pgserver's: never told to install one
        assert not any(word in hint for word in INSTALL_WORDS), hint
    if found.has_server:
        assert "start it" in hint and (found.versions[0] if found.versions else "") in hint
    elif found.embedded is not None:
        assert "rfsetup --sandbox" in hint
    assert verdict(err) == "not listening (connection refused)" and not server_answered(err)


def test_the_installed_clusters_port_is_named_when_the_url_asks_another(
        project_dir: Path) -> None:
    found = localpg.find("Linux")
    if not found.clusters:
        pytest.skip("no Debian cluster on this machine")
    port = free_port()
    hint = _refused(f"postgresql://u:pw@localhost:{port}/raptorflow").hint or ""
    assert f"port {port}" in hint and f"{found.clusters[0].port}" in hint
    assert "check the port in DATABASE_URL" in hint


def test_a_stopped_sandbox_is_started_with_rfsetup(project_dir: Path) -> None:
    # the sandbox's own layout, started and stopped for real: its port is refused now
    server = EmbeddedPostgres(project_dir / STATE_DIR / "sandbox" / "postgres",
                              server_settings=FAST)
    server.start()
    url = server.url("raptorflow")
    server.stop()
    try:
        hint = _refused(url).hint or ""
        assert "rfsetup sandbox start" in hint
        assert "systemctl" not in hint and "install" not in hint
    finally:
        server.destroy()


def test_no_postgresql_anywhere_is_told_to_install_for_this_os_only() -> None:
    for family, install in (("Linux", "apt-get install postgresql-15"),
                            ("Darwin", "brew install postgresql@15"),
                            ("Windows", "choco install postgresql")):
        hint = server_down_remedy(None, 5432, os_name=family, found=localpg.LocalPostgres())
        assert install in hint and "rfsetup[sandbox]" in hint
        for word in OTHER_OS_WORDS[family]:
            assert word not in hint, (family, hint)
    only_embedded = localpg.LocalPostgres(embedded=Path("/opt/pgserver/bin"))
    hint = server_down_remedy("localhost", 5432, os_name="Linux", found=only_embedded)
    assert "rfsetup --sandbox" in hint and "install" not in hint.replace("installed", "")


def test_each_os_starts_its_own_service() -> None:
    brew = localpg.LocalPostgres(server_dirs=(Path("/opt/homebrew/opt/postgresql@16/bin"),),
                                 versions=("16",))
    assert server_down_remedy(None, 5432, os_name="Darwin", found=brew).endswith(
        "brew services start postgresql@16")
    win = localpg.LocalPostgres(server_dirs=(Path("C:/Program Files/PostgreSQL/17/bin"),),
                                versions=("17",))
    assert "net start postgresql-x64-17" in server_down_remedy(None, 5432, os_name="Windows",
                                                               found=win)
    systemd = localpg.LocalPostgres(server_dirs=(Path("/usr/lib/postgresql/16/bin"),),
                                    units=("postgresql.service", "postgresql@.service"),
                                    systemd=True, versions=("16",),
                                    clusters=(localpg.Cluster("16", "main", 5432),))
    assert "sudo systemctl start postgresql@16-main" in server_down_remedy(
        "localhost", 5432, os_name="Linux", found=systemd)
    container = localpg.LocalPostgres(server_dirs=(Path("/usr/lib/postgresql/16/bin"),),
                                      units=("postgresql.service",), systemd=False,
                                      debian_tools=True, versions=("16",),
                                      clusters=(localpg.Cluster("16", "main", 5432),))
    hint = server_down_remedy("localhost", 5432, os_name="Linux", found=container)
    assert "sudo pg_ctlcluster 16 main start" in hint and "systemctl" not in hint


def test_another_machines_server_is_not_this_machines_to_install() -> None:
    hint = server_down_remedy("db.internal.example", 5432, found=localpg.LocalPostgres())
    assert "db.internal.example:5432" in hint and "install" not in hint
    assert "firewall" in timeout_remedy("db.internal.example", 5432)


def test_local_hosts() -> None:
    for host in (None, "localhost", "127.0.0.1", "127.0.1.1", "::1", "[::1]", "/tmp/pg"):
        assert localpg.is_local(host), host
    assert not localpg.is_local("db.example.com")
