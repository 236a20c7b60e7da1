"""kdedge deletes only what it wrote: a user's folders in a run directory or an output folder survive."""

import shutil

import pytest
from conftest import tiny_recipe

from kdedge.errors import ConfigError
from kdedge.ownership import RUN_MARKER, claim_run_dir, remove_stage
from kdedge.pipeline.compress import compress


def users_teacher(folder):
    (folder / "teacher").mkdir(parents=True)
    (folder / "teacher" / "config.json").write_text('{"mine": true}')
    return folder / "teacher" / "config.json"


def test_a_folder_of_the_users_files_is_not_taken_as_a_run_directory(tiny_teacher_dir, tiny_csv, tmp_path):
    project = tmp_path / "project"
    precious = users_teacher(project)
    with pytest.raises(ConfigError, match="not empty and was not made by kdedge"):
        compress(tiny_recipe(tiny_teacher_dir, tiny_csv), tmp_path / "out", project)
    assert precious.read_text() == '{"mine": true}' and sorted(p.name for p in project.iterdir()) == ["teacher"]
    assert not (tmp_path / "out").exists()


def test_inside_a_run_directory_only_kdedges_own_stage_folders_are_replaced(tiny_teacher_dir, tiny_csv, tmp_path):
    run = claim_run_dir(tmp_path / "run")
    assert (run / RUN_MARKER).is_file()
    precious = users_teacher(run)  # someone put a model folder named like kdedge's teacher stage
    with pytest.raises(ConfigError, match="was not written by kdedge"):
        compress(tiny_recipe(tiny_teacher_dir, tiny_csv, distill={"epochs": 1}), tmp_path / "out", run)
    assert precious.read_text() == '{"mine": true}'
    kept = tmp_path / "stage"
    kept.mkdir()
    (kept / "stage.json").write_text("{}")
    remove_stage(kept)  # a folder kdedge stamped is kdedge's to replace
    assert not kept.exists()


def test_an_output_folder_with_other_files_is_refused_with_nothing_changed(artifact, tiny_teacher_dir, tiny_csv,
                                                                            tmp_path):
    output = shutil.copytree(artifact, tmp_path / "out")
    (output / "notes.txt").write_text("keep me")
    before = {path.name: path.stat().st_mtime_ns for path in output.iterdir()}
    with pytest.raises(ConfigError, match=r"holds files kdedge did not write \(notes.txt\)"):
        compress(tiny_recipe(tiny_teacher_dir, tiny_csv), output, tmp_path / "run")
    assert {path.name: path.stat().st_mtime_ns for path in output.iterdir()} == before
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_run_directory_inside_the_output_is_refused(artifact, tiny_teacher_dir, tiny_csv, tmp_path):
    output = shutil.copytree(artifact, tmp_path / "out")
    with pytest.raises(ConfigError, match="is inside --output"):
        compress(tiny_recipe(tiny_teacher_dir, tiny_csv), output, output / "run")
