"""Which mounted filesystem holds a path, and whether that is a network filesystem.

SQLite needs POSIX locks that work and one page cache shared by every process that opens a
file. Network filesystems (NFS, SMB, sshfs, ...) give neither reliably, so a SQLite database on
one of them can be corrupted; the appliance refuses to run it there (docs/two-hosts.md).

The filesystem type is read from `/proc/self/mountinfo`, not from statfs(2): mountinfo names
the type (`nfs4`, `fuse.sshfs`), where statfs's `f_type` has one magic number for every FUSE
filesystem, local or remote, and Python's `os` has no statfs. A bind mount is listed with the
type of the filesystem it shows, so a bind-mounted NFS directory is still seen as NFS. The mount
holding a path is the one with the longest mount point containing it; of several mounted on the
same point, the last listed, which is the one on top.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MOUNTINFO", "NETWORK_FILESYSTEMS", "Mount", "mount_of", "network_mount_of", "parse_mountinfo"]

MOUNTINFO = Path("/proc/self/mountinfo")

#: Filesystem types (as mountinfo names them) whose files other hosts can reach.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "9p",
        "afs",
        "ceph",
        "fuse.ceph-fuse",
        "glusterfs",
        "fuse.glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "fuse.sshfs",
        "fuse.s3fs",
        "fuse.rclone",
        "fuse.mfs",
    }
)

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class Mount:
    mount_point: str
    fstype: str
    source: str

    @property
    def is_network(self) -> bool:
        return self.fstype in NETWORK_FILESYSTEMS


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (`\\040`)."""
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts of a mountinfo text, in its order. Lines that do not parse are skipped.

    A line: `id parent major:minor root mount_point options [optional fields...] - fstype source super_options`.
    """
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        separator = fields.index("-", 6)
        if len(fields) < separator + 3:
            continue
        mounts.append(Mount(_unescape(fields[4]), fields[separator + 1], _unescape(fields[separator + 2])))
    return mounts


def _contains(mount_point: str, path: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def mount_of(path: Path, mountinfo: str | None = None) -> Mount | None:
    """The mount holding `path` (which need not exist yet); `mountinfo` defaults to this process's."""
    text = MOUNTINFO.read_text() if mountinfo is None else mountinfo
    resolved = os.path.realpath(path)
    best: Mount | None = None
    for mount in parse_mountinfo(text):
        if _contains(mount.mount_point, resolved) and (best is None or len(mount.mount_point) >= len(best.mount_point)):
            best = mount
    return best


def network_mount_of(path: Path, mountinfo: str | None = None) -> Mount | None:
    """The network filesystem holding `path`, or None when it is local."""
    mount = mount_of(path, mountinfo)
    return mount if mount is not None and mount.is_network else None
