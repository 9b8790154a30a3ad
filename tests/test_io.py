"""Volume and result I/O (subalign.io): round trips, atomic writes, validated reads."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import mrcfile
import numpy as np
import pytest

import subalign.io.mrc
from subalign.errors import VolumeError
from subalign.numerics.volumes import check_volume
from subalign.io.mrc import read_volume, write_volume
from subalign.errors import ConfigError
from subalign.io.files import check_output_dir, file_record, matches_record, write_json


def write_raw_mrc(path, data) -> None:
    """Write an MRC file with mrcfile directly, bypassing subalign's writer."""
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.asarray(data, dtype=np.float32))


def assert_only(directory, *names) -> None:
    """The directory holds exactly these file names (no temporaries, no *.partial)."""
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)
    assert not list(directory.rglob("*.partial"))


def volume_error(path) -> str:
    with pytest.raises(VolumeError) as info:
        read_volume(path)
    message = str(info.value)
    assert "\n" not in message, "message must be one line"
    assert path.name in message
    return message


# --- round trips ----------------------------------------------------------------------------


def test_write_read_volume_round_trip_keeps_data_and_voxel_size(tmp_path):
    data = np.random.default_rng(0).normal(size=(12, 12, 12)).astype(np.float32)
    target = tmp_path / "vol.mrc"
    assert write_volume(target, data, voxel_size=2.5) == target
    volume = read_volume(target)
    assert volume.data.dtype == np.float32
    assert volume.data.shape == (12, 12, 12)
    np.testing.assert_array_equal(volume.data, data)
    assert volume.voxel_size == pytest.approx(2.5)
    assert volume.source == str(target)
    assert_only(tmp_path, "vol.mrc")


def test_write_volume_keeps_zyx_axis_order(tmp_path):
    data = np.zeros((8, 8, 8), dtype=np.float32)
    data[1, 2, 5] = 7.0  # z = 1, y = 2, x = 5
    write_volume(tmp_path / "v.mrc", data)
    with mrcfile.open(tmp_path / "v.mrc") as mrc:
        assert mrc.data[1, 2, 5] == 7.0
    assert read_volume(tmp_path / "v.mrc").data[1, 2, 5] == 7.0


def test_write_volume_stores_float64_input_as_float32(tmp_path):
    data = np.random.default_rng(1).normal(size=(6, 6, 6))
    write_volume(tmp_path / "v.mrc", data)
    with mrcfile.open(tmp_path / "v.mrc") as mrc:
        assert mrc.data.dtype == np.float32
    np.testing.assert_array_equal(read_volume(tmp_path / "v.mrc").data, data.astype(np.float32))


def test_zero_voxel_size_in_header_reads_as_one(tmp_path):
    write_raw_mrc(tmp_path / "v.mrc", np.arange(216.0).reshape(6, 6, 6))  # voxel size 0
    with mrcfile.open(tmp_path / "v.mrc") as mrc:
        assert float(mrc.voxel_size.x) == 0.0
    assert read_volume(tmp_path / "v.mrc").voxel_size == 1.0


def test_write_volume_creates_missing_directories_and_overwrites(tmp_path):
    target = tmp_path / "a" / "b" / "v.mrc"
    write_volume(target, np.zeros((5, 5, 5)))
    write_volume(target, np.arange(125.0).reshape(5, 5, 5))
    np.testing.assert_array_equal(read_volume(target).data, np.arange(125.0).reshape(5, 5, 5))
    assert_only(target.parent, "v.mrc")


def test_write_json_round_trip(tmp_path):
    content = {"score": 0.25, "euler_zyz_deg": [10.0, 20.0, -30.0], "name": "pair"}
    target = tmp_path / "alignment.json"
    assert write_json(target, content) == target
    assert json.loads(target.read_text()) == content
    assert_only(tmp_path, "alignment.json")


# --- atomic writes --------------------------------------------------------------------------


class DiskFull(OSError):
    pass


@pytest.fixture
def failing_set_data(monkeypatch):
    """Make mrcfile write part of the data and then fail, as a full disk would."""
    original = mrcfile.mrcfile.MrcFile.set_data

    def set_data(self, data):
        original(self, data)
        self.flush()
        raise DiskFull("no space left on device")

    monkeypatch.setattr(mrcfile.mrcfile.MrcFile, "set_data", set_data)


def test_failed_volume_write_leaves_no_file(tmp_path, failing_set_data):
    target = tmp_path / "vol.mrc"
    with pytest.raises(DiskFull):
        write_volume(target, np.ones((8, 8, 8)))
    assert not target.exists()
    assert_only(tmp_path)


def test_failed_volume_write_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "vol.mrc"
    write_volume(target, np.full((8, 8, 8), 5.0), voxel_size=3.0)
    before = target.read_bytes()
    original_new = mrcfile.new

    def new(*args, **kwargs):
        mrc = original_new(*args, **kwargs)
        mrc.close()
        raise DiskFull("no space left on device")

    monkeypatch.setattr(subalign.io.mrc.mrcfile, "new", new)
    with pytest.raises(DiskFull):
        write_volume(target, np.zeros((8, 8, 8)))
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert_only(tmp_path, "vol.mrc")


def test_failed_volume_write_into_new_directory_leaves_no_file(tmp_path, failing_set_data):
    target = tmp_path / "out" / "vol.mrc"
    with pytest.raises(DiskFull):
        write_volume(target, np.ones((8, 8, 8)))
    assert not target.exists()
    assert_only(target.parent)


def test_failed_json_write_leaves_no_file(tmp_path):
    target = tmp_path / "result.json"
    with pytest.raises(TypeError):
        write_json(target, {"ok": 1, "bad": object()})  # not serialisable
    assert not target.exists()
    assert_only(tmp_path)


def test_failed_json_write_midway_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    write_json(target, {"version": 1})
    before = target.read_text()
    original_write_text = type(target).write_text

    def write_text(self, text, *args, **kwargs):
        original_write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise DiskFull("no space left on device")

    monkeypatch.setattr(type(target), "write_text", write_text)
    with pytest.raises(DiskFull):
        write_json(target, {"version": 2, "payload": list(range(50))})
    monkeypatch.undo()
    assert target.read_text() == before
    assert json.loads(before) == {"version": 1}
    assert_only(tmp_path, "result.json")


# --- validated reads ------------------------------------------------------------------------


def test_non_cubic_volume_is_rejected(tmp_path):
    path = tmp_path / "flat.mrc"
    write_raw_mrc(path, np.zeros((16, 16, 8)))
    message = volume_error(path)
    assert "cubic" in message
    assert "(16, 16, 8)" in message


def test_nan_voxel_is_rejected_with_count_and_first_index(tmp_path):
    path = tmp_path / "nan.mrc"
    data = np.zeros((8, 8, 8))
    data[1, 2, 3] = np.nan
    data[5, 0, 6] = np.nan
    data[6, 6, 6] = np.inf
    with pytest.warns(RuntimeWarning):  # mrcfile warns about NaN on write
        write_raw_mrc(path, data)
    message = volume_error(path)
    assert "3 non-finite voxel(s)" in message
    assert "[z, y, x] = [1, 2, 3]" in message


def test_two_dimensional_file_is_rejected(tmp_path):
    path = tmp_path / "image.mrc"
    write_raw_mrc(path, np.zeros((16, 16)))
    message = volume_error(path)
    assert "3-D" in message
    assert "2-D" in message
    assert "(16, 16)" in message


def test_missing_file_is_rejected(tmp_path):
    path = tmp_path / "absent.mrc"
    message = volume_error(path)
    assert "no such file" in message


def test_directory_is_rejected_as_missing_file(tmp_path):
    path = tmp_path / "dir.mrc"
    path.mkdir()
    assert "no such file" in volume_error(path)


@pytest.mark.parametrize("size", [5, 4096])
def test_non_mrc_file_is_rejected(tmp_path, size):
    path = tmp_path / "random.mrc"
    path.write_bytes(np.random.default_rng(size).bytes(size))
    message = volume_error(path)
    assert "MRC" in message


def test_tiny_volume_is_rejected(tmp_path):
    path = tmp_path / "tiny.mrc"
    write_raw_mrc(path, np.zeros((3, 3, 3)))
    message = volume_error(path)
    assert "at least 4" in message
    assert "(3, 3, 3)" in message


# --- in-memory checks -----------------------------------------------------------------------


def test_check_volume_returns_float64_and_names_source():
    data = np.arange(64, dtype=np.int16).reshape(4, 4, 4)
    checked = check_volume(data)
    assert checked.dtype == np.float64
    np.testing.assert_array_equal(checked, data)
    with pytest.raises(VolumeError, match=r"^moving: .*\(4, 4, 5\)"):
        check_volume(np.zeros((4, 4, 5)), "moving")


def test_check_volume_rejects_complex_values():
    with pytest.raises(VolumeError, match="real-valued"):
        check_volume(np.zeros((4, 4, 4), dtype=complex), "fixed")


@pytest.mark.parametrize("value", [0.0, 1.0, -2.5])
def test_constant_volume_is_rejected(tmp_path, value):
    path = tmp_path / "flat_value.mrc"
    write_raw_mrc(path, np.full((8, 8, 8), value))
    message = volume_error(path)
    assert message == (f"{path}: expected a volume with contrast, found a constant volume "
                       f"(every voxel {value:g}): nothing to align")
    with pytest.raises(VolumeError, match=r"^moving: .*constant volume \(every voxel 0\)"):
        check_volume(np.zeros((8, 8, 8)), "moving")


# --- permissions, fingerprints, output directories ------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"a": 1})
        write_volume(tmp_path / "v.mrc", np.arange(64.0).reshape(4, 4, 4))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "v.mrc").stat().st_mode) == mode


def test_file_record_detects_truncation_and_corruption(tmp_path):
    path = tmp_path / "v.mrc"
    write_volume(path, np.random.default_rng(2).normal(size=(8, 8, 8)))
    record = file_record(path)
    content = path.read_bytes()
    assert record["bytes"] == len(content) == 1024 + 8**3 * 4
    assert record["sha256"] == hashlib.sha256(content).hexdigest()
    assert matches_record(path, record)
    path.write_bytes(content[:1000])  # truncated
    assert not matches_record(path, record)
    path.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))  # same size, one bit flipped
    assert not matches_record(path, record)
    path.unlink()
    assert not matches_record(path, record)


def test_check_output_dir_accepts_new_and_existing_directories_and_writes_nothing(tmp_path):
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_output_dir(tmp_path) == tmp_path
    assert list(tmp_path.iterdir()) == []


def test_check_output_dir_refuses_files_and_unwritable_places(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ConfigError) as info:
        check_output_dir(tmp_path / "taken")
    assert str(info.value) == (f"output_dir: expected a directory to write results into, found "
                               f"{tmp_path / 'taken'}, an existing file")
    with pytest.raises(ConfigError, match=r"under the existing file .*taken$"):
        check_output_dir(tmp_path / "taken" / "sub", "--output")
    with pytest.raises(ConfigError, match=r"^output_dir: expected a writable directory, found "
                                          r"/proc/x, where nothing can be created"):
        check_output_dir("/proc/x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
