"""Published alignment errors of Xu & Alber (2012), for comparison with subalign's runs.

Source: Min Xu and Frank Alber, "High precision alignment of cryo-electron subtomograms
through gradient-based parallel optimization", BMC Systems Biology 2012, 6(Suppl 1):S18,
doi:10.1186/1752-0509-6-S1-S18. (The extracted text kept in the project has no title
page; the journal, volume and article number are from the published article's record.
It is *BMC Systems Biology* 6, not BMC Bioinformatics 13.)

The values are transcribed by hand from the text extracted from the paper's PDF, in which
the table cells come out in a scrambled reading order; the layout was rebuilt from the
row and column counts, from the numbers the paper quotes in its prose and from
monotone trends. Every cell is the median ± MAD (median absolute deviation) over 100
aligned pairs of phantom-model subtomograms (32³ voxels) at the given SNR and tilt range,
refined from candidate rotations sampled at 60° or 45° intervals with the stochastic
parallel refinement and the RCS or FCS dissimilarity score.

Tables
------
``"rotation_deg"``
    Table 1, rotation error in degrees (full rotational search; 108 candidates at 60°).
``"translation_voxels"``
    Table 2, translation error in voxels (Euclidean distance).
``"axis_rotation_deg"``
    Table 3, rotation error in degrees when the search is constrained to rotations about
    one known axis (6 candidates at 60°, 8 at 45°).
``"axis_translation_voxels"``
    Table 4, translation error in voxels for the same axis-constrained search.

The paper sets errors above 5° in bold ("inaccurate"); the bold marks did not survive
the text extraction and are not recorded here.

Cells placed by inference
-------------------------
Where two table rows were printed side by side, the text gives each column's two cells
as a pair; the upper row comes first. That order is fixed by the anchors (Table 1, 60°,
±70° vs ±60°, and the ±3.1° / ±2.9° quoted in the prose; Table 2, 60°, RCS and FCS ±60°;
Table 3's "less than 6° even at ±50°") and applied to the other paired rows, marked
``# paired`` below. In Table 1 (45°) and Table 2 (60°, FCS) the ±90° and ±80° cells of
all columns but the first also came loose from their row labels. One cell, Table 3, 60°,
FCS, ±90°, SNR 0.1 (3.1 ± 1.7), stood apart from its row; it is the only place the
row's other seven cells leave for it. See the comments at those cells.

Figure 4 (speed-up of the stochastic parallel over the independent refinement) has
per-cell numbers only in the figure image, not in the text; :data:`SPEEDUP` keeps the
prose figures.
"""

from __future__ import annotations

import math

SNRS = ("inf", "1", "0.5", "0.1")
TILTS = (90, 80, 70, 60, 50, 40)
TABLES = ("rotation_deg", "translation_voxels", "axis_rotation_deg", "axis_translation_voxels")
SAMPLINGS_DEG = (60, 45)
SCORES = ("rcs", "fcs")

# PAPER[table][sampling_deg][score][snr][tilt] = (median, mad)
#   table in TABLES: "rotation_deg", "translation_voxels", "axis_rotation_deg",
#       "axis_translation_voxels"
#   sampling_deg in {60, 45}; score in {"rcs", "fcs"}; snr in SNRS; tilt in TILTS (± degrees)
PAPER = {
    # Table 1: alignment rotation error, degrees.
    "rotation_deg": {
        60: {
            # ±70° and ±60° printed as pairs; ±60° second, fixed by the anchors (RCS
            # 0.97 ± 0.49 at SNR inf) and by the prose (±70°, SNR 0.5: RCS 3.1°, FCS 2.9°).
            "rcs": {
                "inf": {
                    90: (0.71, 0.49),
                    80: (0.85, 0.54),
                    70: (1.2, 0.53),
                    60: (0.97, 0.49),
                    50: (1.8, 0.9),
                    40: (1.6, 1.0),
                },
                "1": {
                    90: (3.3, 2.8),
                    80: (2.5, 1.8),
                    70: (1.9, 1.3),
                    60: (2.0, 0.97),
                    50: (2.9, 1.6),
                    40: (9.0, 8.3),
                },
                "0.5": {
                    90: (2.6, 1.4),
                    80: (3.5, 2.4),
                    70: (3.1, 1.7),
                    60: (3.7, 2.4),
                    50: (7.0, 5.2),
                    40: (55.0, 53.0),
                },
                "0.1": {
                    90: (14.0, 9.3),
                    80: (21.0, 14.0),
                    70: (19.0, 12.0),
                    60: (49.0, 45.0),
                    50: (87.0, 63.0),
                    40: (123.0, 31.0),
                },
            },
            "fcs": {
                "inf": {
                    90: (0.89, 0.54),
                    80: (1.1, 0.61),
                    70: (2.0, 0.86),
                    60: (1.5, 0.82),
                    50: (2.6, 1.1),
                    40: (15.0, 14.0),
                },
                "1": {
                    90: (2.6, 2.1),
                    80: (2.2, 1.6),
                    70: (2.1, 1.0),
                    60: (2.4, 1.2),
                    50: (3.4, 1.8),
                    40: (92.0, 40.0),
                },
                "0.5": {
                    90: (2.4, 1.1),
                    80: (3.2, 2.2),
                    70: (2.9, 1.3),
                    60: (3.8, 2.1),
                    50: (6.3, 4.2),
                    40: (106.0, 37.0),
                },
                "0.1": {
                    90: (8.5, 4.5),
                    80: (12.0, 7.7),
                    70: (16.0, 11.0),
                    60: (34.0, 30.0),
                    50: (43.0, 37.0),
                    40: (113.0, 26.0),
                },
            },
        },
        45: {
            # ±90° and ±80°: only RCS SNR inf follows the row labels; the other seven
            # columns' (±90°, ±80°) pairs stand before the block, in column order
            # RCS 1, 0.5, 0.1, FCS inf, 1, 0.5, 0.1. Upper row first, as in the anchored
            # pairs; every pair then also rises from ±90° to ±80°.
            # The prose's 2.7° (RCS, ±70°, SNR 0.5) matches the ±70° row.
            "rcs": {
                "inf": {
                    90: (0.58, 0.25),
                    80: (0.79, 0.31),
                    70: (1.0, 0.26),
                    60: (1.0, 0.42),
                    50: (2.0, 0.77),
                    40: (1.5, 0.79),
                },
                "1": {
                    90: (1.1, 0.57),  # paired
                    80: (1.4, 0.6),  # paired
                    70: (1.8, 0.69),
                    60: (1.6, 0.66),
                    50: (2.4, 0.93),
                    40: (2.5, 1.1),
                },
                "0.5": {
                    90: (2.0, 0.84),  # paired
                    80: (2.4, 0.93),  # paired
                    70: (2.7, 1.2),
                    60: (2.7, 0.86),
                    50: (2.7, 1.0),
                    40: (5.7, 3.6),
                },
                "0.1": {
                    90: (8.1, 2.7),  # paired
                    80: (11.0, 4.5),  # paired
                    70: (8.4, 3.1),
                    60: (10.0, 4.8),
                    50: (14.0, 11.0),
                    40: (107.0, 27.0),
                },
            },
            "fcs": {
                "inf": {
                    90: (0.7, 0.34),  # paired
                    80: (1.2, 0.49),  # paired
                    70: (1.5, 0.46),
                    60: (1.7, 0.68),
                    50: (2.6, 1.1),
                    40: (9.4, 7.8),
                },
                "1": {
                    90: (1.1, 0.47),  # paired
                    80: (1.7, 0.73),  # paired
                    70: (2.1, 0.7),
                    60: (2.1, 0.84),
                    50: (2.9, 1.1),
                    40: (5.7, 3.3),
                },
                "0.5": {
                    90: (1.7, 0.77),  # paired
                    80: (2.3, 0.97),  # paired
                    70: (2.5, 1.1),
                    60: (2.8, 0.84),
                    50: (2.9, 1.1),
                    40: (7.7, 5.4),
                },
                "0.1": {
                    90: (5.9, 2.4),  # paired
                    80: (7.9, 3.0),  # paired
                    70: (7.9, 2.5),
                    60: (9.2, 4.5),
                    50: (11.0, 5.1),
                    40: (111.0, 19.0),
                },
            },
        },
    },
    # Table 2: alignment translation error, voxels.
    "translation_voxels": {
        60: {
            # ±70° and ±60° printed as pairs; ±60° second, fixed by the anchor
            # (RCS ±60°, SNR 0.5 = 0.43 ± 0.3).
            "rcs": {
                "inf": {
                    90: (0.035, 0.023),
                    80: (0.045, 0.029),
                    70: (0.078, 0.037),
                    60: (0.068, 0.036),
                    50: (0.14, 0.078),
                    40: (0.15, 0.092),
                },
                "1": {
                    90: (0.16, 0.12),
                    80: (0.24, 0.2),
                    70: (0.25, 0.17),
                    60: (0.19, 0.12),
                    50: (0.26, 0.17),
                    40: (0.74, 0.64),
                },
                "0.5": {
                    90: (0.19, 0.12),
                    80: (0.21, 0.15),
                    70: (0.3, 0.18),
                    60: (0.43, 0.3),
                    50: (0.65, 0.51),
                    40: (1.7, 1.3),
                },
                "0.1": {
                    90: (0.96, 0.66),
                    80: (1.3, 0.89),
                    70: (1.3, 0.74),
                    60: (2.2, 1.3),
                    50: (2.3, 1.3),
                    40: (3.2, 1.6),
                },
            },
            # ±90° and ±80°: only SNR inf follows the row labels; the (±90°, ±80°) pairs of
            # SNR 1, 0.5, 0.1 stand at the end of the RCS block. Upper row first, as in the
            # anchored pairs (FCS ±60°, SNR 0.5 = 0.3 ± 0.15 is an unpaired row).
            "fcs": {
                "inf": {
                    90: (0.047, 0.023),
                    80: (0.053, 0.03),
                    70: (0.11, 0.057),
                    60: (0.11, 0.061),
                    50: (0.19, 0.1),
                    40: (0.61, 0.54),
                },
                "1": {
                    90: (0.12, 0.081),  # paired
                    80: (0.15, 0.1),  # paired
                    70: (0.13, 0.074),
                    60: (0.2, 0.094),
                    50: (0.28, 0.16),
                    40: (3.3, 2.7),
                },
                "0.5": {
                    90: (0.11, 0.053),  # paired
                    80: (0.18, 0.1),  # paired
                    70: (0.21, 0.1),
                    60: (0.3, 0.15),
                    50: (0.44, 0.26),
                    40: (4.3, 2.6),
                },
                "0.1": {
                    90: (0.49, 0.31),  # paired
                    80: (0.85, 0.66),  # paired
                    70: (0.95, 0.58),
                    60: (1.6, 1.2),
                    50: (1.8, 1.2),
                    40: (6.2, 3.0),
                },
            },
        },
        45: {
            "rcs": {
                "inf": {
                    90: (0.031, 0.014),
                    80: (0.051, 0.027),
                    70: (0.063, 0.024),
                    60: (0.076, 0.036),
                    50: (0.11, 0.055),
                    40: (0.14, 0.071),
                },
                "1": {
                    90: (0.072, 0.031),
                    80: (0.11, 0.051),
                    70: (0.14, 0.052),
                    60: (0.15, 0.068),
                    50: (0.2, 0.094),
                    40: (0.31, 0.17),
                },
                "0.5": {
                    90: (0.12, 0.049),
                    80: (0.17, 0.072),
                    70: (0.21, 0.1),
                    60: (0.23, 0.1),
                    50: (0.28, 0.14),
                    40: (0.67, 0.47),
                },
                "0.1": {
                    90: (0.43, 0.21),
                    80: (0.69, 0.32),
                    70: (0.63, 0.24),
                    60: (0.89, 0.5),
                    50: (1.3, 0.95),
                    40: (6.2, 5.3),
                },
            },
            # ±50° and ±40° printed as pairs, upper row (±50°) first as in the anchored pairs.
            "fcs": {
                "inf": {
                    90: (0.033, 0.016),
                    80: (0.061, 0.031),
                    70: (0.08, 0.04),
                    60: (0.1, 0.052),
                    50: (0.19, 0.094),  # paired
                    40: (0.76, 0.64),  # paired
                },
                "1": {
                    90: (0.071, 0.03),
                    80: (0.1, 0.052),
                    70: (0.12, 0.05),
                    60: (0.17, 0.091),
                    50: (0.22, 0.083),  # paired
                    40: (0.51, 0.36),  # paired
                },
                "0.5": {
                    90: (0.094, 0.032),
                    80: (0.13, 0.062),
                    70: (0.17, 0.075),
                    60: (0.22, 0.073),
                    50: (0.24, 0.12),  # paired
                    40: (0.82, 0.6),  # paired
                },
                "0.1": {
                    90: (0.29, 0.13),
                    80: (0.46, 0.21),
                    70: (0.49, 0.22),
                    60: (0.72, 0.36),
                    50: (0.93, 0.5),  # paired
                    40: (9.8, 4.1),  # paired
                },
            },
        },
    },
    # Table 3: axis-constrained search, rotation error, degrees.
    "axis_rotation_deg": {
        60: {
            # ±50° and ±40° printed as pairs; ±50° first, fixed by the prose ("errors are
            # less than 6° even ... ±50°"; the other order would put 42° at ±50°).
            "rcs": {
                "inf": {
                    90: (0.2, 0.14),
                    80: (0.29, 0.19),
                    70: (0.43, 0.25),
                    60: (0.6, 0.4),
                    50: (1.1, 0.93),
                    40: (1.7, 1.7),
                },
                "1": {
                    90: (0.31, 0.15),
                    80: (0.55, 0.38),
                    70: (0.67, 0.38),
                    60: (0.99, 0.79),
                    50: (1.3, 1.1),
                    40: (2.3, 2.2),
                },
                "0.5": {
                    90: (0.55, 0.26),
                    80: (0.89, 0.62),
                    70: (0.81, 0.54),
                    60: (1.5, 1.2),
                    50: (1.4, 0.94),
                    40: (7.0, 6.9),
                },
                "0.1": {
                    90: (4.1, 1.8),
                    80: (4.5, 3.0),
                    70: (5.4, 3.9),
                    60: (5.9, 4.9),
                    50: (5.0, 4.1),
                    40: (42.0, 38.0),
                },
            },
            "fcs": {
                "inf": {
                    90: (0.21, 0.13),
                    80: (0.44, 0.29),
                    70: (0.57, 0.37),
                    60: (0.81, 0.64),
                    50: (1.7, 1.4),
                    40: (3.9, 3.7),
                },
                "1": {
                    90: (0.44, 0.24),
                    80: (0.67, 0.41),
                    70: (0.85, 0.53),
                    60: (1.3, 1.1),
                    50: (1.7, 1.4),
                    40: (3.1, 2.9),
                },
                "0.5": {
                    90: (0.62, 0.33),
                    80: (1.0, 0.73),
                    70: (0.84, 0.43),
                    60: (1.7, 1.3),
                    50: (2.0, 1.3),
                    40: (4.0, 3.6),
                },
                "0.1": {
                    # ±90°: the text gives this cell apart, above the "Tilt ±90°" label; the
                    # ±90° row has only seven other cells and this is the one place left
                    # in it (any other slot breaks the rise with falling SNR). Inferred.
                    90: (3.1, 1.7),
                    80: (3.2, 1.6),
                    70: (3.8, 2.4),
                    60: (3.8, 3.0),
                    50: (4.1, 3.6),
                    40: (42.0, 39.0),
                },
            },
        },
        45: {
            # ±60° and ±50° printed as pairs, upper row (±60°) first as in the anchored
            # pairs; both orders agree with the prose's "< 6° at ±50°".
            "rcs": {
                "inf": {
                    90: (0.2, 0.12),
                    80: (0.18, 0.12),
                    70: (0.28, 0.15),
                    60: (0.43, 0.23),  # paired
                    50: (0.65, 0.41),  # paired
                    40: (0.98, 0.87),
                },
                "1": {
                    90: (0.35, 0.16),
                    80: (0.31, 0.21),
                    70: (0.47, 0.29),
                    60: (0.49, 0.28),  # paired
                    50: (0.89, 0.53),  # paired
                    40: (1.2, 0.9),
                },
                "0.5": {
                    90: (0.42, 0.25),
                    80: (0.61, 0.3),
                    70: (0.56, 0.31),
                    60: (0.72, 0.37),  # paired
                    50: (0.93, 0.64),  # paired
                    40: (2.0, 1.7),
                },
                "0.1": {
                    90: (3.1, 1.7),
                    80: (3.9, 1.7),
                    70: (3.9, 2.1),
                    60: (4.5, 3.0),  # paired
                    50: (5.2, 3.4),  # paired
                    40: (12.0, 11.0),
                },
            },
            "fcs": {
                "inf": {
                    90: (0.19, 0.12),
                    80: (0.35, 0.23),
                    70: (0.5, 0.34),
                    60: (0.67, 0.46),  # paired
                    50: (0.99, 0.67),  # paired
                    40: (1.6, 1.2),
                },
                "1": {
                    90: (0.38, 0.19),
                    80: (0.5, 0.34),
                    70: (0.64, 0.43),
                    60: (0.64, 0.39),  # paired
                    50: (1.1, 0.72),  # paired
                    40: (1.7, 1.3),
                },
                "0.5": {
                    90: (0.45, 0.28),
                    80: (0.5, 0.36),
                    70: (0.63, 0.45),
                    60: (0.92, 0.46),  # paired
                    50: (1.1, 0.81),  # paired
                    40: (1.6, 1.2),
                },
                "0.1": {
                    90: (2.5, 1.2),
                    80: (2.5, 1.4),
                    70: (2.8, 1.7),
                    60: (2.7, 1.7),  # paired
                    50: (3.1, 2.2),  # paired
                    40: (9.6, 9.2),
                },
            },
        },
    },
    # Table 4: axis-constrained search, translation error, voxels (split over two pages).
    "axis_translation_voxels": {
        60: {
            "rcs": {
                "inf": {
                    90: (0.018, 0.0053),
                    80: (0.027, 0.011),
                    70: (0.037, 0.017),
                    60: (0.055, 0.028),
                    50: (0.1, 0.067),
                    40: (0.27, 0.25),
                },
                "1": {
                    90: (0.047, 0.017),
                    80: (0.069, 0.029),
                    70: (0.085, 0.04),
                    60: (0.14, 0.083),
                    50: (0.18, 0.12),
                    40: (0.49, 0.4),
                },
                "0.5": {
                    90: (0.08, 0.023),
                    80: (0.1, 0.048),
                    70: (0.13, 0.059),
                    60: (0.19, 0.11),
                    50: (0.24, 0.12),
                    40: (0.94, 0.83),
                },
                "0.1": {
                    90: (0.28, 0.1),
                    80: (0.37, 0.17),
                    70: (0.45, 0.28),
                    60: (0.59, 0.36),
                    50: (0.74, 0.42),
                    40: (3.3, 2.3),
                },
            },
            # ±60° and ±50° printed as pairs, upper row (±60°) first as in the anchored pairs.
            "fcs": {
                "inf": {
                    90: (0.018, 0.0062),
                    80: (0.027, 0.013),
                    70: (0.034, 0.015),
                    60: (0.055, 0.033),  # paired
                    50: (0.11, 0.075),  # paired
                    40: (0.39, 0.35),
                },
                "1": {
                    90: (0.05, 0.017),
                    80: (0.063, 0.025),
                    70: (0.077, 0.032),
                    60: (0.12, 0.063),  # paired
                    50: (0.16, 0.099),  # paired
                    40: (0.36, 0.27),
                },
                "0.5": {
                    90: (0.074, 0.021),
                    80: (0.076, 0.029),
                    70: (0.098, 0.036),
                    60: (0.18, 0.099),  # paired
                    50: (0.2, 0.11),  # paired
                    40: (0.57, 0.44),
                },
                "0.1": {
                    90: (0.23, 0.097),
                    80: (0.24, 0.091),
                    70: (0.32, 0.16),
                    60: (0.46, 0.28),  # paired
                    50: (0.6, 0.36),  # paired
                    40: (3.5, 2.8),
                },
            },
        },
        45: {
            # ±80° and ±70° printed as pairs, and on the continuation page ±60° and ±50°
            # as pairs; upper row first as in the anchored pairs. ±40° is a plain row
            # (its SNR inf cell stands before the ±60°/±50° pairs of SNR 1 to 0.1).
            "rcs": {
                "inf": {
                    90: (0.015, 0.005),
                    80: (0.024, 0.0072),  # paired
                    70: (0.033, 0.0095),  # paired
                    60: (0.046, 0.019),  # paired
                    50: (0.067, 0.035),  # paired
                    40: (0.22, 0.18),
                },
                "1": {
                    90: (0.054, 0.014),
                    80: (0.056, 0.018),  # paired
                    70: (0.075, 0.028),  # paired
                    60: (0.1, 0.036),  # paired
                    50: (0.14, 0.06),  # paired
                    40: (0.31, 0.21),
                },
                "0.5": {
                    90: (0.063, 0.019),
                    80: (0.086, 0.028),  # paired
                    70: (0.11, 0.04),  # paired
                    60: (0.16, 0.051),  # paired
                    50: (0.22, 0.098),  # paired
                    40: (0.44, 0.29),
                },
                "0.1": {
                    90: (0.24, 0.086),
                    80: (0.29, 0.12),  # paired
                    70: (0.38, 0.17),  # paired
                    60: (0.48, 0.22),  # paired
                    50: (0.59, 0.27),  # paired
                    40: (2.3, 1.7),
                },
            },
            # ±80° and ±70° printed as pairs, upper row (±80°) first as in the anchored pairs.
            "fcs": {
                "inf": {
                    90: (0.017, 0.0053),
                    80: (0.021, 0.0069),  # paired
                    70: (0.03, 0.011),  # paired
                    60: (0.043, 0.017),
                    50: (0.07, 0.032),
                    40: (0.17, 0.11),
                },
                "1": {
                    90: (0.048, 0.014),
                    80: (0.052, 0.018),  # paired
                    70: (0.065, 0.023),  # paired
                    60: (0.088, 0.033),
                    50: (0.14, 0.056),
                    40: (0.24, 0.16),
                },
                "0.5": {
                    90: (0.06, 0.016),
                    80: (0.073, 0.025),  # paired
                    70: (0.098, 0.03),  # paired
                    60: (0.13, 0.044),
                    50: (0.18, 0.073),
                    40: (0.33, 0.18),
                },
                "0.1": {
                    90: (0.21, 0.074),
                    80: (0.2, 0.067),  # paired
                    70: (0.26, 0.085),  # paired
                    60: (0.32, 0.11),
                    50: (0.44, 0.19),
                    40: (1.5, 1.2),
                },
            },
        },
    },
}

# Cells the paper lacks: none; every table has 2 samplings x 2 scores x 4 SNRs x 6 tilts.
MISSING: frozenset[tuple[str, int, str, str, int]] = frozenset()

# Figure 4 (ratio of the iterations the independent refinement of every candidate needs
# to those the stochastic parallel refinement needs): its per-cell fold numbers appear
# only in the figure image, which the text does not carry. These are the prose figures
# (Results section and abstract) for the full rotational search.
SPEEDUP = {
    "per_cell": None,  # per-SNR/tilt fold numbers of Figure 4: not in the text
    60: {
        "fold_range": (20, 40),  # "on average about 20 to 40 fold faster" (Figure 4)
        "candidates": 108,  # candidate orientations at 60° intervals
        "iterations_per_independent_run": 60,  # "on average about 60 iterations per run"
        "independent_iterations": 6480,  # 108 x 60, "a total of about 6480"
        "parallel_iterations": (200, 300),  # "within only 200-300 iterative refinement steps"
    },
    45: {
        # "At a rotational sampling of 45°, the speedup leads to an 84 fold faster alignment"
        "fold": 84,
    },
}

_SNR_KEYS = {math.inf: "inf", 1.0: "1", 0.5: "0.5", 0.1: "0.1"}


def paper_value(
    table: str, sampling_deg: int, score: str, snr: float, tilt: float
) -> tuple[float, float] | None:
    """The paper's (median, MAD) for a cell, or None when the paper has no such cell.

    Parameters
    ----------
    table : str
        One of :data:`TABLES`: ``"rotation_deg"``, ``"translation_voxels"``,
        ``"axis_rotation_deg"`` or ``"axis_translation_voxels"``.
    sampling_deg : int
        Rotational sampling interval of the candidates in degrees, 60 or 45.
    score : str
        Dissimilarity score, ``"rcs"`` or ``"fcs"`` (case-insensitive).
    snr : float
        Signal-to-noise ratio: ``math.inf`` (noise-free), 1, 0.5 or 0.1. The key strings of
        :data:`SNRS` are accepted as well.
    tilt : float
        Half-width of the tilt range in degrees (60 or 60.0 for ±60°).

    Returns
    -------
    tuple of float or None
        ``(median, mad)`` in degrees or voxels as the table states, or None for a table,
        sampling, score, SNR or tilt the paper does not report.
    """
    if isinstance(snr, str):
        snr_key = snr if snr in SNRS else None
    else:
        try:
            snr_f = float(snr)
        except (TypeError, ValueError):
            return None
        snr_key = next((k for v, k in _SNR_KEYS.items() if math.isclose(snr_f, v)), None)
    try:
        tilt_f = float(tilt)
        sampling_f = float(sampling_deg)
    except (TypeError, ValueError):
        return None
    if snr_key is None or not tilt_f.is_integer() or not sampling_f.is_integer():
        return None
    try:
        return PAPER[table][int(sampling_f)][str(score).lower()][snr_key][int(tilt_f)]
    except KeyError:
        return None
