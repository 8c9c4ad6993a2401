"""Spotting a database on a network share (E406), from /proc/mounts."""

from __future__ import annotations

from pathlib import Path

from vigil.storage.filesystem import filesystem_type, is_network

MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
nas:/export/cctv /mnt/nas nfs4 rw,relatime 0 0
//nas/share /mnt/my\\040share cifs rw 0 0
tmpfs /mnt/nas/cache tmpfs rw 0 0
"""


def test_longest_mount_point_wins() -> None:
    assert filesystem_type(Path("/var/lib/vigil/vigil.db"), MOUNTS) == "ext4"
    assert filesystem_type(Path("/mnt/nas/vigil/vigil.db"), MOUNTS) == "nfs4"
    assert filesystem_type(Path("/mnt/nas/cache/vigil.db"), MOUNTS) == "tmpfs"
    assert filesystem_type(Path("/mnt/nasty/vigil.db"), MOUNTS) == "ext4"  # not a prefix match


def test_network_shares_are_spotted_with_escaped_paths() -> None:
    assert is_network(Path("/mnt/nas/vigil.db"), MOUNTS)
    assert is_network(Path("/mnt/my share/vigil.db"), MOUNTS)
    assert not is_network(Path("/home/me/vigil.db"), MOUNTS)
    assert not is_network(Path("/x/vigil.db"), "")


def test_this_machine_answers_for_a_local_path(tmp_path: Path) -> None:
    assert filesystem_type(tmp_path) is not None
    assert not is_network(tmp_path)
