"""The transcribed tables of Xu & Alber (2012) (subalign.experiments.paper)."""

from __future__ import annotations

import math

import pytest

from subalign.experiments.paper import (
    MISSING,
    PAPER,
    SAMPLINGS_DEG,
    SCORES,
    SNRS,
    SPEEDUP,
    TABLES,
    TILTS,
    paper_value,
)


@pytest.mark.parametrize(
    ("table", "sampling", "score", "snr", "tilt", "expected"),
    [
        ("rotation_deg", 60, "rcs", "0.5", 60, (3.7, 2.4)),
        ("rotation_deg", 60, "fcs", "0.5", 60, (3.8, 2.1)),
        ("rotation_deg", 60, "rcs", "inf", 60, (0.97, 0.49)),
        ("rotation_deg", 60, "fcs", "1", 60, (2.4, 1.2)),
        ("translation_voxels", 60, "rcs", "0.5", 60, (0.43, 0.3)),
        ("translation_voxels", 60, "fcs", "0.5", 60, (0.3, 0.15)),
        # numbers quoted in the prose: ±70°, SNR 0.5, 60° (RCS 3.1°, FCS 2.9°) and 45° (2.7°)
        ("rotation_deg", 60, "rcs", "0.5", 70, (3.1, 1.7)),
        ("rotation_deg", 60, "fcs", "0.5", 70, (2.9, 1.3)),
        ("rotation_deg", 45, "rcs", "0.5", 70, (2.7, 1.2)),
    ],
)
def test_anchor_cells(table, sampling, score, snr, tilt, expected):
    assert PAPER[table][sampling][score][snr][tilt] == expected


def test_axis_constrained_rotation_below_6_degrees_at_50():
    """The prose: with the axis known, errors stay below 6° even at ±50°."""
    for sampling in SAMPLINGS_DEG:
        for score in SCORES:
            for snr in SNRS:
                assert PAPER["axis_rotation_deg"][sampling][score][snr][50][0] < 6


def test_every_cell_present():
    assert set(PAPER) == set(TABLES)
    count = 0
    for table in TABLES:
        assert set(PAPER[table]) == set(SAMPLINGS_DEG)
        for sampling in SAMPLINGS_DEG:
            assert set(PAPER[table][sampling]) == set(SCORES)
            for score in SCORES:
                assert set(PAPER[table][sampling][score]) == set(SNRS)
                for snr in SNRS:
                    cells = PAPER[table][sampling][score][snr]
                    expected = {t for t in TILTS if (table, sampling, score, snr, t) not in MISSING}
                    assert set(cells) == expected, (table, sampling, score, snr)
                    for tilt, cell in cells.items():
                        assert len(cell) == 2
                        median, mad = cell
                        assert median > 0 and mad > 0, (table, sampling, score, snr, tilt)
                        count += 1
    assert count == 4 * 2 * 2 * 4 * 6 - len(MISSING)


def test_speedup_records_the_prose():
    assert SPEEDUP[60]["fold_range"] == (20, 40)
    assert SPEEDUP[45]["fold"] == 84
    assert SPEEDUP[60]["independent_iterations"] == 108 * 60


def test_paper_value_maps_keys():
    assert paper_value("rotation_deg", 60, "rcs", math.inf, 60) == (0.97, 0.49)
    assert paper_value("rotation_deg", 60, "rcs", float("inf"), 60.0) == (0.97, 0.49)
    assert paper_value("rotation_deg", 60, "rcs", 0.5, 60.0) == (3.7, 2.4)
    assert paper_value("rotation_deg", 60, "fcs", 1.0, 60) == (2.4, 1.2)
    assert paper_value("rotation_deg", 60, "fcs", 1, 60) == (2.4, 1.2)
    assert paper_value("translation_voxels", 60, "fcs", 0.5, 60.0) == (0.3, 0.15)
    assert paper_value("axis_translation_voxels", 45, "rcs", 0.1, 40) == (2.3, 1.7)
    assert paper_value("rotation_deg", 60, "RCS", 0.5, 60) == (3.7, 2.4)
    assert paper_value("rotation_deg", 60, "rcs", "0.5", 60) == (3.7, 2.4)


@pytest.mark.parametrize(
    ("table", "sampling", "score", "snr", "tilt"),
    [
        ("rotation_deg", 60, "rcs", 0.3, 60),  # SNR not in the paper
        ("rotation_deg", 60, "rcs", 0.5, 30),  # tilt not in the paper
        ("rotation_deg", 60, "rcs", 0.5, 60.5),  # not a table row
        ("rotation_deg", 30, "rcs", 0.5, 60),  # sampling not in the paper
        ("rotation_deg", 60, "ncc", 0.5, 60),  # score not in the paper
        ("scale", 60, "rcs", 0.5, 60),  # no such table
    ],
)
def test_paper_value_unknown_cell_is_none(table, sampling, score, snr, tilt):
    assert paper_value(table, sampling, score, snr, tilt) is None
