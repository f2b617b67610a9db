"""SQLite serves one host: the commands refuse a SQLite file on a network filesystem, and a SQLite
database another host has used (docs/two-hosts.md).

The network filesystem is injected: this machine's own mount table plus one NFS line, in the
kernel's format, that mounts a share over the test's directory (a real NFS server is not
something a test machine has). The other host is real: host A's API reports into the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli.main import cli
from appliance.cli.sqlite_guard import OTHER_HOST_WINDOW, refuse_shared_sqlite
from appliance.ops import filesystems
from appliance.ops.settings import QueueSettings, Settings, load_settings
from tests.support.live import ADMIN_EMAIL, LiveAppliance, appliance_env, free_port, run_command

pytestmark = pytest.mark.timeout(180)


def _with_nfs_share_on(directory: Path) -> str:
    """This machine's mount table with an NFS share mounted on `directory`."""
    share = (
        f"901 27 0:90 / {directory} rw,relatime shared:90 - nfs4 nas.branch.local:/export/appliance"
        " rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,"
        "clientaddr=192.168.10.21,local_lock=none,addr=192.168.10.5\n"
    )
    return filesystems.MOUNTINFO.read_text() + share


def test_sqlite_files_on_a_network_filesystem_are_refused(tmp_path: Path) -> None:
    mountinfo = _with_nfs_share_on(tmp_path / "nfs")
    on_share = Settings(data_dir=str(tmp_path / "nfs" / "var"))
    with pytest.raises(ValueError, match=r"the SQLite database .*/nfs/var/appliance.db is on a network filesystem"):
        refuse_shared_sqlite(on_share, mountinfo=mountinfo)
    queue_on_share = Settings(
        data_dir=str(tmp_path / "local"),
        database_url="postgresql://appliance@db.branch.local/appliance",
        queue=QueueSettings(sqlite_dir=str(tmp_path / "nfs" / "queue")),
    )
    with pytest.raises(ValueError, match=r"the SQLite queue directory .*/nfs/queue is on a network filesystem"):
        refuse_shared_sqlite(queue_on_share, mountinfo=mountinfo)
    # two hosts: PostgreSQL and Redis, with everything else on the share
    two_hosts = Settings(
        data_dir=str(tmp_path / "nfs" / "var"),
        database_url="postgresql://appliance@db.branch.local/appliance",
        queue=QueueSettings(backend="redis"),
    )
    refuse_shared_sqlite(two_hosts, mountinfo=mountinfo)
    refuse_shared_sqlite(Settings(data_dir=str(tmp_path / "local")), mountinfo=mountinfo)


def test_init_on_a_network_filesystem_stops_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(_with_nfs_share_on(tmp_path / "nfs"))
    monkeypatch.setattr(filesystems, "MOUNTINFO", mountinfo)
    data_dir = tmp_path / "nfs" / "var"
    result = CliRunner().invoke(cli, ["init"], env=appliance_env(data_dir, free_port()))
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("appliance: the SQLite database") and "network filesystem (nfs4 nas.branch.local" in line
    assert "docs/two-hosts.md" in line
    assert not data_dir.exists(), "nothing written"


def test_a_sqlite_database_another_host_used_is_refused(tmp_path: Path) -> None:
    port = free_port()
    env_a = appliance_env(tmp_path, port, HOST_NAME="host-a")
    env_b = appliance_env(tmp_path, port, HOST_NAME="host-b")
    assert run_command(env_a, "init", "--admin-email", ADMIN_EMAIL).returncode == 0
    host_a = LiveAppliance(f"http://127.0.0.1:{port}", env_a, tmp_path, log_dir=tmp_path / "logs")
    host_a.log_dir.mkdir()
    try:
        host_a.start_process("api", "serve")  # reports host-a into the database when it starts
        host_a.wait_ready()
        with host_a.client() as client:
            assert [h["hostname"] for h in client.get("/api/version").json()["hosts"]] == ["host-a"]
    finally:
        host_a.stop()

    for command in (["serve"], ["worker", "--queue", "default"], ["scheduler"], ["init"]):
        refused = run_command(env_b, *command, timeout=60)
        assert refused.returncode == 1, (command, refused.stderr)
        (line,) = refused.stderr.splitlines()
        assert line.startswith("appliance: the SQLite database") and "'host-a' reported into it" in line, line
        assert "this host is 'host-b'" in line and "docs/two-hosts.md" in line

    again = run_command(env_a, "init", "--admin-email", ADMIN_EMAIL)  # the same host may go on
    assert again.returncode == 0 and "an ADMIN exists already" in again.stdout, again.stderr
    host_b = load_settings(env_b)
    later = datetime.now(UTC) + OTHER_HOST_WINDOW
    refuse_shared_sqlite(host_b, now=later)  # a report older than the window no longer blocks
