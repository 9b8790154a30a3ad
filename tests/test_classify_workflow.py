"""subalign classify: multi-reference refinement and all-vs-all clustering of simulated
mixtures, checked against the true classes (adjusted Rand index) and the true maps; class
numbers written back; medoid frames; bad inputs are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from batch_support import OTHER_PHANTOM, simulate
from refine_support import QUICK, keep_log_handlers, mixture  # noqa: F401 (autouse fixture)
from subalign.cli.compose import compose_config
from subalign.cli.dispatch import main
from subalign.io.formats import read_particles, write_particles
from subalign.io.mrc import read_volume
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import transform_volume
from subalign.workflows.rounds.classes import medoid_frames
from subalign.workflows.rounds.classify import run_classify
from subalign.workflows.fsc import fsc


@pytest.fixture(scope="module")
def mix16(tmp_path_factory):
    """6 particles of the paper phantom (class 1) then 6 of four other blobs (class 2),
    16^3, SNR 4, +-60 degrees, true poses and classes in ``mixture.star``."""
    return mixture(tmp_path_factory.mktemp("mix16"), [(), (OTHER_PHANTOM,)], 6, "size=16",
                   "max_translation_voxels=1", "imaging.snr=4")


def _config(mix: Path, *overrides: str):
    return compose_config("classify", [*QUICK, f"particles={mix}",
                                       f"tomograms={mix.parent / 'wedges.csv'}",
                                       f"truth={mix}", *overrides])


def _truth_maps(mix: Path) -> list[np.ndarray]:
    return [read_volume(mix.parent / f"class{c}" / "reference.mrc").data for c in (1, 2)]


def _low_band_fsc(first: np.ndarray, second: np.ndarray) -> float:
    frequency, correlation = fsc(first, second)
    return float(np.mean(correlation[(frequency > 0) & (frequency <= 0.2)]))


def test_medoid_frames_map_every_member_onto_the_medoid():
    poses = [RigidTransform(Rotation.random(random_state=k).as_matrix(), np.full(3, k / 3))
             for k in range(5)]
    labels = np.array([2, 1, 2, 2, 1])
    dissimilarity = np.array([[0, 5, 1, 3, 5], [5, 0, 5, 5, 2], [1, 5, 0, 1, 5],
                              [3, 5, 1, 0, 5], [5, 2, 5, 5, 0]], dtype=float)
    frames = medoid_frames(labels, dissimilarity,
                           lambda i, j: poses[i].compose(poses[j].inverse()))
    assert sorted(frames) == [1, 2]
    medoid, members = frames[2]
    assert medoid == 2 and [k for k, _ in members] == [0, 2, 3]  # 2 has the least sum (2)
    for k, transform in members:
        expected = poses[2].compose(poses[k].inverse())
        assert np.allclose(transform.rotation, expected.rotation)
        assert np.allclose(transform.translation, expected.translation)
    assert frames[1][0] in (1, 4)


def test_multiref_from_the_sets_classes_moves_misassigned_particles(mix16, tmp_path):
    particles = read_particles(mix16)
    classes = particles.fields["class_number"].to_numpy().copy()
    classes[[1, 8]] = 3 - classes[[1, 8]]  # two particles in the wrong class
    fields = particles.fields.copy()
    fields["class_number"] = classes
    particles.fields = fields
    start = tmp_path / "start.star"
    write_particles(particles, start, "relion5")
    run = run_classify(_config(mix16, f"particles={start}", "rounds=1", "figures=true",
                               "initial_lowpass_angstrom=30", f"output_dir={tmp_path / 'run'}"),
                       inline=True)
    start_record = json.loads((tmp_path / "run" / "round_000" / "round.json").read_text())
    assert start_record["classes"] == [6, 6] and start_record["truth"]["adjusted_rand_index"] < 0.5
    final = json.loads((tmp_path / "run" / "round_001" / "round.json").read_text())
    assert final["truth"]["adjusted_rand_index"] == 1.0 and final["changed"] == 2
    assert final["search"] == "local"  # the set's poses: no global round
    written = read_particles(tmp_path / "run" / "particles.star")
    assert np.array_equal(written.fields["class_number"], np.repeat([1, 2], 6))
    truths = _truth_maps(mix16)
    for c in (1, 2):  # each class average is its own structure in the true frame
        average = read_volume(tmp_path / "run" / f"class{c}.mrc").data
        own, other = (_low_band_fsc(average, truths[k]) for k in (c - 1, 2 - c))
        assert own > 0.8 and own > other + 0.1
    report = (tmp_path / "run" / "report.md").read_text()
    assert "(class_averages.png)" in report and "classes 6/6" not in report
    assert (tmp_path / "run" / "class_averages.png").is_file()
    assert (tmp_path / "run" / "round_001" / "class_averages.png").is_file()
    assert run.summary["truth"]["adjusted_rand_index"] == 1.0 and run.summary["ran"] == 2


@pytest.fixture(scope="module")
def mix32(tmp_path_factory):
    """3 particles of the paper phantom then 3 of four other blobs, 32^3, SNR 4: global
    searches between 16^3 boxes fail too often to test a global round on them."""
    return mixture(tmp_path_factory.mktemp("mix32"), [(), (OTHER_PHANTOM,)], 3, "size=32",
                   "imaging.snr=4", seed=3)


@pytest.mark.slow
def test_multiref_from_lowpassed_maps_with_a_global_first_round_finds_the_classes(mix32,
                                                                                  tmp_path):
    references = [str(mix32.parent / f"class{c}" / "reference.mrc") for c in (1, 2)]
    run = run_classify(_config(mix32, f"references=[{','.join(references)}]", "rounds=2",
                               "initial_lowpass_angstrom=40", f"output_dir={tmp_path / 'run'}"),
                       inline=True)
    first = json.loads((tmp_path / "run" / "round_001" / "round.json").read_text())
    assert first["search"] == "global"
    assert run.summary["truth"]["adjusted_rand_index"] == 1.0
    written = read_particles(tmp_path / "run" / "particles.star")
    assert np.array_equal(written.fields["class_number"], np.repeat([1, 2], 3))


@pytest.mark.slow
def test_all_vs_all_clusters_the_mixture_and_averages_each_class_in_its_medoid_frame(mix32,
                                                                                   tmp_path):
    run = run_classify(_config(mix32, "mode=all", "classes=2", "figures=true",
                               f"output_dir={tmp_path / 'run'}"), inline=True)
    assert run.summary["truth"]["adjusted_rand_index"] == 1.0
    batch = json.loads((tmp_path / "run" / "all_vs_all" / "summary.json").read_text())
    assert batch["count"] == 15 and batch["status"] == "complete"
    written = read_particles(tmp_path / "run" / "particles.star")
    labels = written.fields["class_number"].to_numpy()
    assert sorted(np.bincount(labels)[1:]) == [3, 3] and len(set(labels[:3])) == 1
    truths, truth = _truth_maps(mix32), read_particles(mix32)
    for c in (1, 2):  # an average in its medoid's frame: compare with the truth in that frame
        members = np.flatnonzero(labels == c)
        medoid = [k for k in members if np.allclose(written.rotations[k], np.eye(3))][0]
        average = read_volume(tmp_path / "run" / f"class{c}.mrc").data
        in_frame = transform_volume(truths[0 if members[0] < 3 else 1], truth.pose(medoid))
        assert _low_band_fsc(average, in_frame) > 0.7
    assert (tmp_path / "run" / "class_averages.png").is_file()
    assert "(class_averages.png)" in (tmp_path / "run" / "report.md").read_text()
    again = run_classify(_config(mix32, "mode=all", "classes=2", "figures=true",
                                 f"output_dir={tmp_path / 'run'}"), inline=True)
    assert again.ran == 0


@pytest.mark.parametrize("extra, message", [
    (["mode=all"], "classes: expected the number of classes for mode=all, found null"),
    (["mode=some"], "mode: expected one of multiref, all, found 'some'"),
    (["mode=all", "classes=2", "references=[a.mrc]"], "references: expected null for mode=all"),
    (["references=[REF1]", "classes=3"], "references: expected a list of at least 2 MRC maps"),
    (["references=[REF1,nothere.mrc]"], "references[1]: expected an MRC map, found no file nothere.mrc"),
    (["start=classes", "classes=1"], "row 7: class 2; expected a class from 1 to 1"),
    (["start=nothing"], "start: expected one of references, classes, found 'nothing'"),
])
def test_bad_inputs_are_one_line_errors_with_exit_code_2(mix16, tmp_path, capsys, extra,
                                                        message):
    extra = [e.replace("REF1", str(mix16.parent / "class1" / "reference.mrc")) for e in extra]
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", f"particles={mix16}", f"tomograms={mix16.parent / 'wedges.csv'}",
              *extra, f"output_dir={tmp_path / 'run'}"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and message in error, error
    assert not (tmp_path / "run").exists()


def test_a_set_without_classes_needs_references(tmp_path, capsys):
    sim = simulate(tmp_path / "sim", "n=3", "size=16", "max_translation_voxels=1")
    with pytest.raises(SystemExit):
        main(["classify", f"particles={sim / 'particles.star'}",
              f"tomograms={sim / 'wedges.csv'}", f"output_dir={tmp_path / 'run'}"])
    assert ("expected class numbers for start=classes (no references= given), found none"
            in capsys.readouterr().err)
