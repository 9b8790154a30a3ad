"""``subalign select``, ``merge`` and ``split`` against ground truth.

The inputs are the tables of :mod:`test_formats` (RELION 5 and RELION 4 STAR files with
columns subalign does not model, a Dynamo table of 43 columns), written as their programs
write them. Every output is read back with starfile or dynamotable, not subalign, and
compared with the rows pandas picks from the input: the same rows, every column, the same
values (angles as rotation matrices, file names as the files they resolve to).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile

import dynamotable
from subalign.cli.dispatch import main
from test_formats import (dynamo_matrix, dynamo_rows, relion4_blocks, relion5_blocks,
                          relion_matrix, star_text, write_dynamo_text)

PATHS = ("rlnImageName", "rlnCtfImage")
ANGLES = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]


def _touch_files(root: Path, table: pd.DataFrame) -> None:
    for column in PATHS:
        for name in table.get(column, []):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).touch()


def relion_set(root: Path, version: str = "relion5", seed: int = 1, name: str = "in.star") -> Path:
    """A RELION table in ``root`` whose particle files exist there."""
    blocks = (relion5_blocks if version == "relion5" else relion4_blocks)(np.random.default_rng(seed))
    if version == "relion4":  # classes and scores of their own to select by
        blocks[-1][1]["rlnClassNumber"] = 1 + np.arange(len(blocks[-1][1])) % 3
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(star_text(blocks))
    _touch_files(root, blocks[-1][1])
    return root / name


def dynamo_set(root: Path, seed: int = 2) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_dynamo_text(root / "in.tbl", dynamo_rows(np.random.default_rng(seed)))
    return root / "in.tbl"


def particles_of(path: Path) -> pd.DataFrame:
    return starfile.read(path, always_dict=True)["particles"]


def run(*args) -> None:
    main([str(a) for a in args])


def assert_same_rows(expected: pd.DataFrame, expected_dir: Path, written: pd.DataFrame,
                     written_dir: Path) -> None:
    """Every column, every value; angles as matrices, file names as the files they name."""
    assert sorted(written.columns) == sorted(expected.columns)
    assert len(written) == len(expected)
    written = written[list(expected.columns)].reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    for column in expected.columns:
        a, b = expected[column], written[column]
        if column in ANGLES:
            continue
        if column in PATHS:
            assert [(expected_dir / n).resolve() for n in a] == [(written_dir / n).resolve() for n in b]
            assert all((written_dir / n).exists() for n in b), column
        elif pd.api.types.is_numeric_dtype(a):
            np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), rtol=1e-9, atol=1e-6,
                                       err_msg=column)
        else:
            assert list(b.astype(str)) == list(a.astype(str)), column
    if all(c in expected.columns for c in ANGLES):
        np.testing.assert_allclose(relion_matrix(written[ANGLES].to_numpy(float)),
                                   relion_matrix(expected[ANGLES].to_numpy(float)), atol=1e-9)


# --- select -----------------------------------------------------------------------------------

SELECTIONS = [
    (("--class", 2, 3), lambda t: t["rlnClassNumber"].isin([2, 3])),
    (("--half", 1), lambda t: t["rlnRandomSubset"] == 1),
    (("--tomogram", "TS_02"), lambda t: t["rlnTomoName"] == "TS_02"),
    (("--query", "rlnMaxValueProbDistribution > 0.4 and rlnClassNumber != 1"),
     lambda t: (t["rlnMaxValueProbDistribution"] > 0.4) & (t["rlnClassNumber"] != 1)),
    (("--rows", "5:17"), lambda t: (t.index >= 4) & (t.index < 17)),
    (("--class", 1, "--half", 1, "--tomogram", "TS_01"),
     lambda t: (t["rlnClassNumber"] == 1) & (t["rlnRandomSubset"] == 1) & (t["rlnTomoName"] == "TS_01")),
]


@pytest.mark.parametrize("args, oracle", SELECTIONS, ids=lambda v: " ".join(map(str, v))
                         if isinstance(v, tuple) else "")
def test_select_keeps_exactly_the_rows_with_those_values_and_every_column(tmp_path, args, oracle, capsys):
    source = relion_set(tmp_path)
    out = tmp_path / "out" / "sub" / "selected.star"
    run("select", source, out, *args)
    table = particles_of(source)
    expected = table[np.asarray(oracle(table))]
    assert 0 < len(expected) < len(table)
    assert_same_rows(expected, tmp_path, particles_of(out), out.parent)
    blocks_in, blocks_out = starfile.read(source, always_dict=True), starfile.read(out, always_dict=True)
    assert list(blocks_out) == ["general", "optics", "particles"]
    pd.testing.assert_frame_equal(blocks_out["optics"], blocks_in["optics"])
    assert blocks_out["general"] == blocks_in["general"]
    printed = capsys.readouterr().out
    assert f"wrote {len(expected)} of {len(table)} particles" in printed


def test_select_by_score_reads_the_dynamo_cc_column_and_keeps_its_43_columns(tmp_path):
    source = dynamo_set(tmp_path)
    run("select", source, tmp_path / "kept.tbl", "--min-score", 0.3, "--max-score", 0.8, "--class", 1, 2)
    before, after = dynamotable.read(str(source)), dynamotable.read(str(tmp_path / "kept.tbl"))
    rows = (before["cc"] >= 0.3) & (before["cc"] <= 0.8) & before["class"].isin([1, 2])
    expected = before[rows].reset_index(drop=True)
    assert after.shape == expected.shape and after.shape[1] == 43
    for j in range(43):
        if j not in (6, 7, 8):
            np.testing.assert_array_equal(after.iloc[:, j].to_numpy(), expected.iloc[:, j].to_numpy())
    np.testing.assert_allclose(dynamo_matrix(after.iloc[:, 6:9].to_numpy()),
                               dynamo_matrix(expected.iloc[:, 6:9].to_numpy()), atol=1e-6)


def test_select_by_score_and_confidence_of_a_batch_alignments_csv(tmp_path):
    source = relion_set(tmp_path)
    n = len(particles_of(source))
    rng = np.random.default_rng(5)
    scores, confidence = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    pd.DataFrame({"row": np.arange(n), "tag": np.arange(n) + 1, "score": scores,
                  "confidence": confidence}).to_csv(tmp_path / "alignments.csv", index=False)
    run("select", source, tmp_path / "good.star", "--alignments", tmp_path / "alignments.csv",
        "--max-score", 0.6, "--min-confidence", 0.25)
    expected = particles_of(source)[(scores <= 0.6) & (confidence >= 0.25)]
    assert_same_rows(expected, tmp_path, particles_of(tmp_path / "good.star"), tmp_path)


def test_select_converts_with_to_and_refuses_an_existing_output_unless_force(tmp_path, capsys):
    source = relion_set(tmp_path)
    out = tmp_path / "half1.star"
    run("select", source, out, "--half", 1)
    first = out.read_bytes()
    with pytest.raises(SystemExit) as info:
        run("select", source, out, "--half", 2)
    assert info.value.code == 2 and out.read_bytes() == first
    assert "half1.star: exists; expected a new file (give --force to replace it)" in capsys.readouterr().err
    run("select", source, out, "--half", 2, "--force")
    assert set(particles_of(out)["rlnRandomSubset"]) == {2}
    relion4 = relion_set(tmp_path, "relion4", name="in4.star")
    run("select", relion4, tmp_path / "half2.tbl", "--half", 2, "--to", "dynamo")
    assert len(dynamotable.read(str(tmp_path / "half2.tbl"))) == 20


# --- split and merge --------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["relion5", "relion4"])
def test_merge_of_a_split_by_half_gives_back_the_set(tmp_path, version):
    source = relion_set(tmp_path / "project", version)
    run("split", source, "--by", "half", "--output-dir", tmp_path / "halves")
    halves = [tmp_path / "halves" / f"in_half{k}.star" for k in (1, 2)]
    run("merge", *halves, "--output", tmp_path / "merged" / "all.star")
    merged = particles_of(tmp_path / "merged" / "all.star")
    original = particles_of(source)
    # the order stated: the half-1 rows, then the half-2 rows, each in the set's order
    expected = original.sort_values("rlnRandomSubset", kind="stable")
    assert_same_rows(expected, source.parent, merged, tmp_path / "merged")
    pd.testing.assert_frame_equal(starfile.read(tmp_path / "merged" / "all.star", always_dict=True)["optics"],
                                  starfile.read(source, always_dict=True)["optics"])


def test_merge_of_random_parts_gives_back_the_set_in_order_of_its_rows(tmp_path):
    source = relion_set(tmp_path, "relion5")
    run("split", source, "--random", 3, "--seed", 7)
    parts = [tmp_path / f"in_part{k}.star" for k in (1, 2, 3)]
    sizes = [len(particles_of(p)) for p in parts]
    assert sum(sizes) == 40 and max(sizes) - min(sizes) <= 1
    run("merge", *parts, "--output", tmp_path / "back.star")
    merged = particles_of(tmp_path / "back.star")
    order = np.argsort([int(name.split("/")[-1].split("_")[0]) for name in merged["rlnImageName"]],
                       kind="stable")
    assert_same_rows(particles_of(source), tmp_path, merged.iloc[order], tmp_path)


def test_split_random_is_reproducible_and_seeds_differ(tmp_path):
    source = relion_set(tmp_path)
    names = []
    for seed, folder in ((3, "a"), (3, "b"), (4, "c")):
        run("split", source, "--random", 2, "--seed", seed, "--output-dir", tmp_path / folder)
        names.append(list(particles_of(tmp_path / folder / "in_part1.star")["rlnImageName"]))
    assert names[0] == names[1] != names[2]


def test_merge_of_a_dynamo_split_by_class_gives_back_the_table(tmp_path):
    source = dynamo_set(tmp_path / "tables")
    run("split", source, "--by", "class", "--output-dir", tmp_path / "classes")
    before = dynamotable.read(str(source))
    classes = pd.unique(before["class"])
    parts = [tmp_path / "classes" / f"in_class{int(k) or 'none'}.tbl" for k in classes]  # 0: none
    run("merge", *parts, "--output", tmp_path / "merged.tbl")
    after = dynamotable.read(str(tmp_path / "merged.tbl")).sort_values("tag").reset_index(drop=True)
    assert after.shape == before.shape == (40, 43)
    for j in range(43):
        if j not in (6, 7, 8):
            np.testing.assert_array_equal(after.iloc[:, j].to_numpy(), before.iloc[:, j].to_numpy())
    np.testing.assert_allclose(dynamo_matrix(after.iloc[:, 6:9].to_numpy()),
                               dynamo_matrix(before.iloc[:, 6:9].to_numpy()), atol=1e-6)


def _optics_variant(source: Path, target: Path, **settings) -> Path:
    blocks = starfile.read(source, always_dict=True)
    for key, value in settings.items():
        blocks["optics"][key] = value
    particles = blocks["particles"]
    particles["rlnImageName"] = [n.replace("Subtomograms", "Other") for n in particles["rlnImageName"]]
    particles["rlnCenteredCoordinateXAngst"] += 5000.0
    _touch_files(target.parent, particles)
    starfile.write(blocks, target)
    return target


def test_merge_joins_optics_groups_of_equal_settings_and_renumbers_the_others(tmp_path):
    source = relion_set(tmp_path)
    same = _optics_variant(source, tmp_path / "same.star", rlnOpticsGroupName="other")
    other = _optics_variant(source, tmp_path / "other.star", rlnVoltage=200.0)
    run("merge", source, same, "--output", tmp_path / "a.star")
    merged = starfile.read(tmp_path / "a.star", always_dict=True)
    assert len(merged["optics"]) == 1 and set(merged["particles"]["rlnOpticsGroup"]) == {1}
    run("merge", source, other, "--output", tmp_path / "b.star")
    merged = starfile.read(tmp_path / "b.star", always_dict=True)
    assert list(merged["optics"]["rlnOpticsGroup"]) == [1, 2]
    assert list(merged["optics"]["rlnVoltage"]) == [300.0, 200.0]
    assert list(merged["optics"]["rlnOpticsGroupName"]) == ["optics1", "opticsGroup2"]
    assert list(merged["particles"]["rlnOpticsGroup"]) == [1] * 40 + [2] * 40


def test_merge_fills_a_column_only_one_set_has_with_zero_or_empty_text(tmp_path):
    source = relion_set(tmp_path)
    blocks = starfile.read(source, always_dict=True)
    particles = blocks["particles"].drop(columns=["rlnNormCorrection", "rlnTomoParticleName"])
    particles["rlnImageName"] = [n.replace("Subtomograms", "B") for n in particles["rlnImageName"]]
    particles["rlnCenteredCoordinateZAngst"] += 2000.0
    _touch_files(tmp_path, particles)
    starfile.write({**blocks, "particles": particles}, tmp_path / "b.star")
    run("merge", source, tmp_path / "b.star", "--output", tmp_path / "m.star")
    merged = particles_of(tmp_path / "m.star")
    assert list(merged["rlnNormCorrection"]) == [1.0] * 40 + [0.0] * 40
    assert list(merged["rlnTomoParticleName"][40:].fillna("")) == [""] * 40
    assert_same_rows(particles_of(source), tmp_path, merged.iloc[:40], tmp_path)


def test_merge_refuses_a_particle_twice_unless_allowed_and_paths_resolve(tmp_path, capsys):
    first = relion_set(tmp_path / "a")
    second = relion_set(tmp_path / "b", seed=9)  # other files, other places
    run("merge", first, second, "--output", tmp_path / "out" / "m.star")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        run("merge", first, first, "--output", tmp_path / "twice.star")
    err = capsys.readouterr().err.strip()
    assert err.startswith("subalign: error: ") and "expected each particle once" in err
    assert not (tmp_path / "twice.star").exists()
    run("merge", first, first, "--output", tmp_path / "twice.star", "--allow-duplicates")
    assert len(particles_of(tmp_path / "twice.star")) == 80
    merged = particles_of(tmp_path / "out" / "m.star")
    assert all((tmp_path / "out" / n).exists() for n in merged["rlnImageName"])
    assert [(tmp_path / "out" / n).resolve() for n in merged["rlnImageName"][40:]] == \
        [(tmp_path / "b" / n).resolve() for n in particles_of(second)["rlnImageName"]]


def test_every_option_is_in_help_with_its_default(capsys):
    for command in ("select", "merge", "split"):
        with pytest.raises(SystemExit):
            run(command, "--help")
        entries = []
        for line in capsys.readouterr().out.split("options:")[1].splitlines():
            if line.startswith("  -"):
                entries.append(line)
            elif entries:
                entries[-1] += " " + line.strip()
        assert len(entries) >= 6
        for entry in entries:
            assert entry.strip().startswith("-h") or "(default:" in entry, (command, entry)
