"""Finding the filesystem that holds a path in a mount table, and telling network ones apart.

`data/mountinfo_network.txt` is a mount table in the kernel's format with NFS (v3 and v4),
CIFS, sshfs and 9p mounts, a bind mount of an NFS subdirectory, a local disk mounted inside an NFS
share and a local filesystem mounted over an NFS one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.ops.filesystems import mount_of, network_mount_of, parse_mountinfo

MOUNTINFO = (Path(__file__).parent / "data" / "mountinfo_network.txt").read_text()


def test_every_line_is_read_with_its_escapes_undone() -> None:
    mounts = parse_mountinfo(MOUNTINFO + "a line that is no mount\n\n")
    assert len(mounts) == len(MOUNTINFO.splitlines())
    assert [m.mount_point for m in mounts if m.fstype == "nfs"] == ["/mnt/old nas"]
    assert {m.fstype for m in mounts} >= {"nfs4", "cifs", "fuse.sshfs", "9p", "ext4", "xfs"}


@pytest.mark.parametrize(
    ("path", "fstype"),
    [
        ("/srv/share/appliance.db", "nfs4"),
        ("/srv/share/queue/analysis.db", "nfs4"),
        ("/mnt/old nas/appliance.db", "nfs"),
        ("/mnt/smb/appliance.db", "cifs"),
        ("/home/tech/remote/var/appliance.db", "fuse.sshfs"),
        ("/var/lib/appliance/appliance.db", "nfs4"),  # a bind mount shows the type of what it shows
        ("/mnt/vmshare/appliance.db", "9p"),
    ],
)
def test_a_path_on_a_network_filesystem_is_found(path: str, fstype: str) -> None:
    mount = network_mount_of(Path(path), MOUNTINFO)
    assert mount is not None and mount.fstype == fstype


@pytest.mark.parametrize(
    ("path", "fstype"),
    [
        ("/var/lib/other/appliance.db", "ext4"),
        ("/srv/shared/appliance.db", "ext4"),  # /srv/share is a prefix of the text, not of the path
        ("/srv/share/local/appliance.db", "ext4"),  # a local disk mounted inside the share
        ("/mnt/overmounted/appliance.db", "xfs"),  # the local filesystem mounted on top wins
        ("/", "ext4"),
    ],
)
def test_a_path_on_a_local_filesystem_is_not(path: str, fstype: str) -> None:
    mount = mount_of(Path(path), MOUNTINFO)
    assert mount is not None and mount.fstype == fstype and not mount.is_network
    assert network_mount_of(Path(path), MOUNTINFO) is None


def test_symbolic_links_are_followed(tmp_path: Path) -> None:
    (tmp_path / "var").symlink_to("/srv/share")
    mount = network_mount_of(tmp_path / "var" / "appliance.db", MOUNTINFO)
    assert mount is not None and mount.source == "nas.branch.local:/export/appliance"


def test_this_machines_mount_table_holds_every_path(tmp_path: Path) -> None:
    assert mount_of(tmp_path / "not-yet" / "appliance.db") is not None
