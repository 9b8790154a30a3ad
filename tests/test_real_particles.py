"""Real particles: the EMPIAR-10499 subset (WarpTools 2-D stacks for RELION 5) and every
real particle table in tests/data/real_tables.

Ground truth on the real data is what RELION and M refined on the full data set: the table's
poses. RELION's reconstruction ``relion_reconstruct_40.mrc`` is in the biological hand; the
poses define its mirror along z (SOURCE.md). An independent reconstruction of these 20
particles reached 25 Angstrom against it; Nyquist is 24 Angstrom.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from subalign.align.config import align_settings
from subalign.errors import ConfigError
from subalign.io.formats import read_particles, write_particles
from subalign.io.mrc import read_map
from subalign.io.subtomograms import SubtomogramReader
from subalign.numerics.volumes import flip_volume
from subalign.numerics.wedge import TiltRange
from subalign.workflows.averaging import WedgeAccumulator
from subalign.workflows.fsc import fsc, resolutions
from subalign.workflows.hand import check_hand
from subalign.workflows.maps import soft_sphere_mask
from environment import SHARED_DATA

TABLES = Path(__file__).parent / "data" / "real_tables"
REAL = SHARED_DATA / "real" / "empiar10499_subset"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real particles not at {REAL} "
                                "(set SUBALIGN_SHARED_DATA to the shared data folder)")
SUBALIGN = str(Path(sys.executable).parent / "subalign")


@pytest.fixture(scope="module")
def real():
    particles = read_particles(REAL / "optimisation_set.star")
    reference = read_map(REAL / "relion_reconstruct_40.mrc").data.astype(np.float32)
    return particles, reference


@needs_real
def test_show_reads_the_optimisation_set_with_each_particles_tilt_geometry():
    shown = subprocess.run([SUBALIGN, "show", str(REAL / "optimisation_set.star")],
                           capture_output=True, text=True, check=True).stdout
    assert "20 particles in" in shown and "(relion5)" in shown
    assert "tilt geometry (20 particles with per-tilt tables" in shown
    # Unt_076's beams lie up to 12.5 degrees off the single-axis plane and 2 tilts hide
    # its particles; Unt_050's are within 4.7 degrees, all 37 tilts visible
    assert shown.count("35/37") == 10 and shown.count("37/37") == 10
    assert "far from single-axis (> 5 deg): 10 of 20" in shown


@needs_real
def test_the_average_at_the_tables_poses_matches_relions_map_in_the_posed_hand(real):
    particles, reference = real
    total = WedgeAccumulator(32)
    with SubtomogramReader(particles) as reader:
        for index in range(len(particles)):
            box = reader(index)
            tilt = TiltRange(*particles.fields[["tilt_min", "tilt_max"]].iloc[index].to_numpy(float))
            total.add(box.volume, box.pose.inverse(), tilt)
    mask = soft_sphere_mask(32, 13.0, 3.0)
    found = {}
    for hand, target in (("mirrored", flip_volume(reference, "z")), ("given", reference)):
        frequency, correlation = fsc(total.average() * mask, target * mask)
        found[hand] = resolutions(frequency, correlation, 12.0)["0.143"]
    assert found["mirrored"] <= 30.0  # measured 28.3 A
    assert found["given"] >= 60.0  # measured 90.7 A: the other hand does not fit


@needs_real
def test_the_hand_check_flags_the_map_as_given_and_passes_its_mirror(real):
    particles, reference = real
    tilts = particles.fields[["tilt_min", "tilt_max"]].to_numpy(float)
    align = align_settings({})
    with pytest.raises(ConfigError, match="reference: in the other hand than the particles' poses: "
                                          r"\d of 8 particles score better .*give reference_flip=z"):
        check_hand(particles, tilts, reference, align, count=8)
    check = check_hand(particles, tilts, flip_volume(reference, "z"), align, count=8)
    assert not check.mirror_wins


def expected_tables() -> list[dict]:
    return [entry for entry in json.loads((TABLES / "expected.json").read_text())
            if entry["particles"] is not None]


@pytest.mark.parametrize("entry", expected_tables(), ids=lambda e: e["path"])
def test_every_real_table_is_read_with_its_count_and_converts(entry, tmp_path):
    tomograms = None if entry["tomograms"] is None else TABLES / entry["tomograms"]
    particles = read_particles(TABLES / entry["path"], tomograms=tomograms)
    assert len(particles) == entry["particles"]
    given = {} if particles.pixel_size is not None or particles.pixel_sizes is not None else {"pixel_size": 10.0}
    again = read_particles(TABLES / entry["path"], tomograms=tomograms, **given)
    relion = "relion5" if again.coordinate_frame == "centre" else "relion4"  # no sizes needed
    for target, fmt in (("out.star", relion), ("out.tbl", "dynamo")):
        written = write_particles(again, tmp_path / target, fmt)
        back = read_particles(written, fmt, pixel_size=given.get("pixel_size"))
        assert len(back) == entry["particles"]
        assert np.abs(back.rotations - again.rotations).max() < 1e-6
