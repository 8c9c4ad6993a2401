"""The storage folder's marker and the one-instance lock: an unmounted disk records nothing
and loses no row; a second vigil on the same storage is refused."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SimThread, free_port, wait_for
from tests.test_cli import VIGIL, _token
from vigil.errors import StorageError
from vigil.storage.identity import KEY, MARKER, adopt, check_storage, read_marker
from vigil.storage.index import Index
from vigil.storage.lock import InstanceLock


def test_a_first_start_marks_the_folder_and_the_index(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    index = Index(tmp_path / "vigil.db")
    assert check_storage(root, index) is None
    ident = read_marker(root)
    assert ident is not None and index.meta(KEY) == ident
    assert check_storage(root, index) is None  # the same folder, again
    index.close()


def test_a_folder_without_its_marker_or_with_another_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    index = Index(tmp_path / "vigil.db")
    assert check_storage(root, index) is None
    (root / MARKER).rename(tmp_path / "saved")  # the disk is not mounted: an empty folder
    refused = check_storage(root, index)
    assert refused is not None and refused.code == "E409" and "mounted" in refused.message
    assert read_marker(root) is None  # nothing was written to the wrong folder
    other = tmp_path / "other"
    assert check_storage(other, Index(tmp_path / "other.db")) is None  # another storage
    wrong = check_storage(other, index)
    assert wrong is not None and wrong.code == "E409"
    assert adopt(other, index) == read_marker(other)  # on purpose: adopted
    assert check_storage(other, index) is None
    index.close()


def test_a_database_made_anew_adopts_the_folders_marker(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    first = Index(tmp_path / "a.db")
    assert check_storage(root, first) is None
    again = Index(tmp_path / "b.db")  # the database lost; the folder kept
    assert check_storage(root, again) is None
    assert again.meta(KEY) == first.meta(KEY)
    first.close()
    again.close()


def test_the_lock_refuses_a_second_holder_and_is_free_again_after(tmp_path: Path) -> None:
    first = InstanceLock([tmp_path / "storage", tmp_path / "db"])
    with pytest.raises(StorageError) as caught:
        InstanceLock([tmp_path / "db"])
    assert caught.value.code == "E410"
    first.release()
    InstanceLock([tmp_path / "storage", tmp_path / "db"]).release()


def _health(port: int, token: str) -> dict[str, Any] | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/health", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except OSError:
        return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0


def test_vigil_run_on_an_unmounted_disk_records_nothing_and_keeps_every_row(
    tmp_path: Path, sim: SimThread
) -> None:
    """Recordings on their own "disk" (a folder), the database beside it: after a run, the
    disk is swapped for an empty folder, as when it fails to mount. vigil refuses to record
    (E409, health "error"), and every row is still there once the disk is back. A second
    vigil on the same storage is refused (E410) meanwhile."""
    port = free_port()
    disk, db = tmp_path / "disk", tmp_path / "local" / "vigil.db"
    config = tmp_path / "vigil.yaml"
    config.write_text(
        f"server: {{port: {port}}}\n"
        f"storage: {{path: {disk}, db_path: {db}}}\n"
        "cameras:\n"
        f"  cam: {{inputs: [{{url: '{sim.url('cam1')}'}}], record: {{segment_seconds: 2}}}}\n"
    )
    token = _token(config)
    log = tmp_path / "vigil.log"
    out = log.open("w")
    proc = subprocess.Popen([*VIGIL, "run", "--config", str(config)], stdout=out, stderr=out)
    try:
        wait_for(lambda: len(list(disk.rglob("*Z.mp4"))) >= 3, 60, "three segments")
        second = subprocess.run(
            [*VIGIL, "run", "--config", str(config)], capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1 and "[E410]" in second.stderr
        _stop(proc)
        index = Index(db)
        rows = index.count()
        index.close()
        assert rows >= 3
        disk.rename(tmp_path / "away")  # unmounted: an empty mount point in its place
        disk.mkdir()
        proc = subprocess.Popen([*VIGIL, "run", "--config", str(config)], stdout=out, stderr=out)
        health = wait_for(lambda: _health(port, token), 30, "the server")
        assert health["status"] == "error" and health["storage_error"]["code"] == "E409"
        wait_for(
            lambda: (
                (_health(port, token) or {}).get("cameras", {}).get("cam", {}).get("state")
                == "streaming"
            ),
            30,
            "the camera streams (live view goes on)",
        )
        _stop(proc)
        assert not list(disk.rglob("*.mp4"))  # nothing recorded on the wrong disk
        assert sorted(p.name for p in disk.iterdir()) == [".vigil.lock"]
        (disk / ".vigil.lock").unlink()
        disk.rmdir()
        (tmp_path / "away").rename(disk)  # mounted again
        index = Index(db)
        assert index.count() == rows and not any(r.missing for r in index.segments())
        index.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
    text = log.read_text()
    assert "[E409]" in text


def test_vigil_storage_adopt_records_the_folder_and_waits_for_vigil_to_stop(
    tmp_path: Path,
) -> None:
    disk, db = tmp_path / "disk", tmp_path / "local" / "vigil.db"
    config = tmp_path / "vigil.yaml"
    config.write_text(f"storage: {{path: {disk}, db_path: {db}}}\ncameras: {{}}\n")
    index = Index(db)
    assert check_storage(tmp_path / "old-disk", index) is None  # the index knows another
    index.close()
    adopt_cmd = [*VIGIL, "storage", "adopt", "--config", str(config)]
    held = InstanceLock([disk, db.parent])  # as a running vigil holds it
    refused = subprocess.run(adopt_cmd, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "[E410]" in refused.stderr
    held.release()
    done = subprocess.run(adopt_cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    index = Index(db)
    assert index.meta(KEY) == read_marker(disk) and check_storage(disk, index) is None
    index.close()
