"""XtremeDistil's staged distillation on the tiny teacher: stages run in order, resume, and unfreeze."""

import json

import pytest
from conftest import tiny_recipe

from kdedge.distill.loop import _unfreeze_top
from kdedge.errors import ConfigError
from kdedge.pipeline.compress import compress
from kdedge.recipe import Recipe
from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig

STAGES = [
    {"name": "representation", "losses": {"hidden_states": 1.0}, "epochs": 2},
    {"name": "logits", "losses": {"soft_logits": 1.0}, "epochs": 3},
    {"name": "labels", "losses": {"hard_labels": 1.0, "gold_labels": 1.0}, "epochs": 3, "unfreeze": "gradual"},
]


def stage_files(run):
    return {name: (run / "student-bilstm" / name / "student.pt").stat().st_mtime_ns
            for name in ("1-representation", "2-logits", "3-labels")}


@pytest.fixture(scope="module")
def staged(tiny_teacher_dir, tiny_csv, tmp_path_factory):
    root = tmp_path_factory.mktemp("staged")
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv, distill={"stages": STAGES})
    result = compress(recipe, root / "artifact", root / "run")
    return recipe, result, root


def test_three_stages_run_in_order_and_the_student_learns(staged):
    _, result, root = staged
    history = result.manifest["training"]["history"]
    assert [stage["stage"] for stage in history] == ["representation", "logits", "labels"]
    assert history[0]["monitor"] == "dev_loss" and "dev_loss" in history[0]["history"][0]
    assert history[1]["monitor"] == history[2]["monitor"] == "dev_score"
    # representation matching lowers the dev loss it watches
    losses = [row["dev_loss"] for row in history[0]["history"]]
    assert min(losses[1:]) < losses[0]
    assert result.manifest["metrics"]["student_onnx"]["accuracy"] > 0.8
    # the labelled train split joins the transfer set for the gold-label loss, cached by the teacher
    assert (root / "run" / "teacher_cache" / "train" / "logits").is_dir()
    assert (root / "run" / "teacher_cache" / "transfer" / "hidden-2").is_dir()


def test_a_changed_last_stage_reuses_the_stages_before_it(staged):
    recipe, _, root = staged
    before = stage_files(root / "run")
    changed = Recipe.from_dict(
        {**recipe.to_dict(), "distill": {**recipe.to_dict()["distill"],
                                         "stages": STAGES[:2] + [{**STAGES[2], "epochs": 2}]}})
    compress(changed, root / "artifact-changed", root / "run")
    after = stage_files(root / "run")
    assert after["1-representation"] == before["1-representation"]
    assert after["2-logits"] == before["2-logits"]
    assert after["3-labels"] != before["3-labels"]


def test_resume_from_a_named_stage_reruns_it_and_the_rest(staged):
    recipe, _, root = staged
    before = stage_files(root / "run")
    compress(recipe, root / "artifact-resumed", root / "run", from_stage="logits")
    after = stage_files(root / "run")
    assert after["1-representation"] == before["1-representation"]
    assert after["2-logits"] != before["2-logits"] and after["3-labels"] != before["3-labels"]
    manifest = json.loads((root / "artifact-resumed" / "kdedge.json").read_text())
    assert manifest["metrics"]["student_onnx"]["accuracy"] > 0.8


def test_kept_stages_are_not_reused_for_a_student_of_another_shape(staged, monkeypatch):
    from kdedge.students import sizing

    recipe, result, root = staged
    width = result.manifest["student"]["config"]["embedding_dim"]
    before = stage_files(root / "run")
    # the same recipe, but a sizing solver (a later kdedge version) that chooses another shape for it
    monkeypatch.setattr(sizing, "EMBEDDING_GRID", tuple(w for w in sizing.EMBEDDING_GRID if w != width))
    again = compress(recipe, root / "artifact-reshaped", root / "run")
    assert again.manifest["student"]["config"]["embedding_dim"] != width
    after = stage_files(root / "run")
    assert all(after[name] != before[name] for name in before)


def test_unknown_stage_name_is_refused(staged):
    recipe, _, root = staged
    with pytest.raises(ConfigError, match="no distillation stage named 'warmup'"):
        compress(recipe, root / "artifact-x", root / "run", from_stage="warmup")
    assert not (root / "artifact-x").exists()


def test_gradual_unfreezing_trains_the_top_groups_only():
    student = BiLSTMClassifier(BiLSTMConfig(20, 8, 6, 3, 50))
    groups = student.layer_groups()
    _unfreeze_top(groups, 1)
    assert all(p.requires_grad for p in student.classifier.parameters())
    assert not any(p.requires_grad for p in student.forward_lstm.parameters())
    assert not student.embeddings.weight.requires_grad
    _unfreeze_top(groups, 2)
    assert all(p.requires_grad for p in student.backward_lstm.parameters())
    assert not student.embeddings.weight.requires_grad
    _unfreeze_top(groups, 3)
    assert all(p.requires_grad for p in student.parameters())


def test_transformer_student_matches_attention_and_hidden_states(tiny_teacher_dir, tiny_csv, tmp_path):
    # one representation loss per stage, so each stage's dev loss is that loss alone: a loss that computed
    # nothing (always 0) or that training could not lower fails here
    stages = [{"name": "attention", "losses": {"attention": 1.0}, "epochs": 2},
              {"name": "hidden", "losses": {"hidden_states": 1.0}, "epochs": 2},
              {"name": "logits", "losses": {"soft_logits": 1.0, "hard_labels": 1.0}, "epochs": 4}]
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv, student={"kind": "transformer", "init": "etd-impt", "target": "3x",
                                                              "max_params": None},
                         distill={"stages": stages, "hidden_layers": ["1:1", "-1:-1"]})
    result = compress(recipe, tmp_path / "artifact", tmp_path / "run")
    history = result.manifest["training"]["history"]
    assert [stage["stage"] for stage in history] == ["attention", "hidden", "logits"]
    for stage in history[:2]:
        losses = [row["dev_loss"] for row in stage["history"]]
        assert stage["monitor"] == "dev_loss" and losses[0] > 1e-3, stage
        assert min(losses[1:]) < losses[0], stage
    assert result.manifest["metrics"]["student_onnx"]["accuracy"] > 0.7


@pytest.mark.parametrize(("stages", "message"), [
    ([{"name": "a", "losses": {"soft_logits": 1}}, {"name": "a", "losses": {"hard_labels": 1}}], "repeats"),
    ([{"name": "a", "losses": {}}], "at least one positive"),
    ([{"name": "a", "losses": {"attention": 1}}], "does not have"),
    ([{"name": "a", "losses": {"kl": 1}}], "unknown recipe key 'distill.stages\\[0\\].losses.kl'"),
])
def test_bad_stages_are_refused_with_the_key(stages, message):
    with pytest.raises(ConfigError, match=message):
        Recipe.from_dict({"distill": {"stages": stages}})


def test_hidden_layer_out_of_range_is_refused(tiny_teacher_dir, tiny_csv, tmp_path):
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv, distill={
        "stages": [{"name": "r", "losses": {"hidden_states": 1.0}}], "hidden_layers": ["-1:7"]})
    with pytest.raises(ConfigError, match="out of range"):
        compress(recipe, tmp_path / "artifact", tmp_path / "run")
    assert not (tmp_path / "artifact").exists()
