"""Multi-task distillation (MKD) on the tiny teacher: sentiment and NER in one student, both kinds."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from conftest import tiny_ner_recipe, tiny_recipe

from kdedge.distill.loop import task_weights
from kdedge.errors import ConfigError
from kdedge.pipeline.multitask import _check_shared_tokenizer, compress_multitask, multitask_logits
from kdedge.recipe import Recipe, task_recipes
from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig
from kdedge.students.multitask import MultiTaskStudent, TaskSpec
from kdedge_runtime import Entity, Prediction, Predictor
from kdedge_runtime.cli import main as runtime_main


def multitask_recipe(tmp_path, teacher_dir, conll, csv, kind="bilstm", casing=False, **distill) -> Recipe:
    """Two single-task recipe files (tiny sentiment, tiny NER) and a multi-task recipe naming them."""
    sentiment = tiny_recipe(teacher_dir, csv)
    ner = tiny_ner_recipe(teacher_dir, conll, csv)
    for name, single in (("sentiment", sentiment), ("ner", ner)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(single.to_dict()))
    student = {"kind": kind, "target": None, "max_params": 30000 if kind == "transformer" else 15000,
               "dropout": 0.1, "init": "etd-impt" if kind == "transformer" else "pca", "casing": casing}
    return Recipe.from_dict({
        "name": f"tiny-multitask-{kind}",
        "tasks": [{"name": "sentiment", "recipe": str(tmp_path / "sentiment.yaml")},
                  {"name": "ner", "recipe": str(tmp_path / "ner.yaml")}],
        "student": student,
        "distill": {"epochs": 6, "batch_size": 32, "learning_rate": 5e-3, "patience": 4, **distill},
    })


def staged_recipe(root, teacher_dir, conll, csv) -> Recipe:
    """XtremeDistil's stages with word casing, as in the multitask-bilstm recipe: the teachers' last
    layers (pooled for sentiment, word by word for NER), then their logits, then the labels."""
    stages = [{"name": "representation", "losses": {"hidden_states": 1.0}, "epochs": 2},
              {"name": "logits", "losses": {"soft_logits": 1.0, "hard_labels": 1.0}, "epochs": 5},
              {"name": "labels", "losses": {"hard_labels": 1.0, "gold_labels": 1.0}, "epochs": 2, "unfreeze": "gradual"}]
    return multitask_recipe(root, teacher_dir, conll, csv, casing=True, task_sampling="annealed",
                            hidden_layers=["-1:-1"], stages=stages)


@pytest.fixture(scope="module")
def multitask_artifact(tiny_teacher_dir, tiny_conll, tiny_csv, tmp_path_factory):
    root = tmp_path_factory.mktemp("multitask")
    result = compress_multitask(staged_recipe(root, tiny_teacher_dir, tiny_conll, tiny_csv), root / "artifact",
                                root / "run")
    return result, root / "artifact"


def test_one_bilstm_student_learns_both_tasks(multitask_artifact):
    result, folder = multitask_artifact
    manifest = result.manifest
    assert manifest["task"] == "multi-task"
    assert [(t["name"], t["task"], t["output"]) for t in manifest["tasks"]] == [
        ("sentiment", "sequence-classification", "logits_sentiment"),
        ("ner", "token-classification", "logits_ner")]
    assert manifest["outputs"] == ["logits_sentiment", "logits_ner"]
    metrics = manifest["metrics"]
    assert metrics["teacher"]["sentiment.accuracy"] > 0.9 and metrics["teacher"]["ner.entity_f1"] > 0.9
    assert metrics["student_onnx"]["sentiment.accuracy"] > 0.85
    assert metrics["student_onnx"]["ner.entity_f1"] > 0.8
    assert metrics["student"]["mean_task_score"] == pytest.approx(
        (metrics["student"]["sentiment.accuracy"] + metrics["student"]["ner.entity_f1"]) / 2)
    teachers = sum(teacher["params"] for teacher in manifest["teacher"].values())
    assert manifest["compression_vs_all_teachers"] == pytest.approx(teachers / manifest["student"]["params"], rel=1e-3)
    assert {row["variant"] for row in manifest["variants"]} == {"fp32", "int8-dynamic", "int8-static"}
    assert sum(row["chosen"] for row in manifest["variants"]) == 1
    stages = manifest["training"]["history"]
    assert [stage["stage"] for stage in stages] == ["representation", "logits", "labels"]
    assert set(stages[0]["history"][-1]["dev_scores"]) == {"sentiment", "ner"}


def test_a_multitask_student_with_casing_is_served_with_it(multitask_artifact):
    result, folder = multitask_artifact
    stride = result.manifest["casing_stride"]
    assert stride > 0
    predictor = Predictor(folder)
    assert predictor.encoder.casing_stride == stride
    lower, title = (predictor.logits([text])["ner"] for text in ("the movie was lovely", "The Movie Was Lovely"))
    assert not np.allclose(lower, title)  # the casing reaches the model


def test_runtime_answers_every_task_in_one_call(multitask_artifact):
    _, folder = multitask_artifact
    predictor = Predictor(folder)
    assert predictor.tasks == ["sentiment", "ner"]
    text = "so the movie report was lovely superb today"
    [result] = predictor.predict([text])
    assert set(result.tasks) == {"sentiment", "ner"}
    assert isinstance(result.tasks["sentiment"], Prediction)
    assert result.tasks["sentiment"].label in {"positive", "negative", "neutral"}
    assert all(isinstance(entity, Entity) and text[entity.start:entity.end] == entity.text
               for entity in result.tasks["ner"].entities)
    logits = predictor.logits([text, "the food was awful"])
    assert logits["sentiment"].shape == (2, 3) and logits["ner"].shape == (2, 32, 5)


def test_runtime_cli_prints_each_task(multitask_artifact, capsys):
    _, folder = multitask_artifact
    assert runtime_main(["predict", str(folder), "the game was wonderful"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert set(line) == {"text", "sentiment", "ner"}
    assert set(line["sentiment"]) == {"label", "score"} and isinstance(line["ner"], list)


def test_transformer_multitask_student_exports_fused(tiny_teacher_dir, tiny_conll, tiny_csv, tmp_path):
    recipe = multitask_recipe(tmp_path, tiny_teacher_dir, tiny_conll, tiny_csv, kind="transformer", epochs=2)
    recipe = recipe.with_overrides(["export.variants=[int8-dynamic]"])
    result = compress_multitask(recipe, tmp_path / "artifact", tmp_path / "run")
    manifest = result.manifest
    assert manifest["student"]["kind"] == "multitask-transformer"
    assert manifest["fusion"].get("Attention", 0) >= 1 and manifest["fusion"].get("SkipLayerNormalization", 0) >= 1
    assert manifest["parity"]["fp32_max_abs_logit_difference"] <= manifest["parity"]["atol"]
    [result_row] = Predictor(tmp_path / "artifact").predict(["the food was awful"])
    assert set(result_row.tasks) == {"sentiment", "ner"}


def test_multitask_student_shares_its_encoder_and_reuses_the_built_head():
    config = BiLSTMConfig(vocab_size=20, embedding_dim=8, hidden_size=6, num_labels=3, teacher_vocab_size=30)
    single = BiLSTMClassifier(config)
    head = single.classifier
    specs = [TaskSpec("sentiment", "sequence-classification", ("a", "b", "c")),
             TaskSpec("ner", "token-classification", ("O", "B-x", "I-x", "B-y", "I-y"))]
    student = MultiTaskStudent(single, specs, dropout=0.0).eval()
    assert student.heads["sentiment"].classifier is head  # the first task keeps the head built for it
    ids, mask = torch.randint(2, 30, (4, 7)), torch.ones(4, 7, dtype=torch.long)
    sentiment, ner = student(ids, mask)
    assert sentiment.shape == (4, 3) and ner.shape == (4, 7, 5)
    assert torch.equal(student.view("ner")(ids, mask), ner)
    groups = student.layer_groups()
    assert groups[0] == list(student.heads.values()) and len(groups) == 3
    # one encoder: its parameters are counted once, the heads add only their classifiers
    heads = sum(p.numel() for p in student.heads.parameters())
    assert heads == (12 * 3 + 3) + (12 * 5 + 5)


def test_multitask_logits_match_each_task_view():
    config = BiLSTMConfig(vocab_size=40, embedding_dim=8, hidden_size=6, num_labels=2, teacher_vocab_size=40)
    specs = [TaskSpec("a", "sequence-classification", ("x", "y")), TaskSpec("b", "token-classification", ("O", "B-p"))]
    student = MultiTaskStudent(BiLSTMClassifier(config), specs, dropout=0.0)
    from tokenizers import Tokenizer, models, pre_tokenizers

    from kdedge_runtime.encoding import TextEncoder

    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate("one two three four five".split())}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    encoder = TextEncoder(tokenizer, 8, 0)
    texts = ["one two", "three four five one", "two"]
    logits = multitask_logits(student, encoder, texts)
    assert logits["a"].shape == (3, 2) and logits["b"].shape == (3, 8, 2)
    ids, mask = (torch.from_numpy(a) for a in encoder.pad(encoder.encode(texts)))
    with torch.no_grad():
        expected = student.view("a")(ids, mask).numpy()
        tokens = student.view("b")(ids, mask).numpy()
    np.testing.assert_allclose(logits["a"], expected, atol=1e-6)
    np.testing.assert_allclose(logits["b"][1, :4], tokens[1, :4], atol=1e-6)
    assert not logits["b"][2, 1:].any()  # zero after the text's last word


def test_task_sampling_schedules():
    np.testing.assert_allclose(task_weights([300, 100], "proportional", 0, 5), [0.75, 0.25])
    np.testing.assert_allclose(task_weights([300, 100], "uniform", 3, 5), [0.5, 0.5])
    first, last = task_weights([300, 100], "annealed", 0, 5), task_weights([300, 100], "annealed", 4, 5)
    np.testing.assert_allclose(first, [0.75, 0.25])
    expected = np.array([300 ** 0.2, 100 ** 0.2])
    np.testing.assert_allclose(last, expected / expected.sum())


def test_multitask_recipe_errors(tmp_path, tiny_teacher_dir, tiny_conll, tiny_csv):
    recipe = multitask_recipe(tmp_path, tiny_teacher_dir, tiny_conll, tiny_csv)
    values = recipe.to_dict()
    with pytest.raises(ConfigError, match="at least two tasks"):
        Recipe.from_dict({**values, "tasks": values["tasks"][:1]})
    with pytest.raises(ConfigError, match="repeats a task name"):
        Recipe.from_dict({**values, "tasks": [values["tasks"][0], values["tasks"][0]]})
    with pytest.raises(ConfigError, match="task name 'Sentiment!'"):
        Recipe.from_dict({**values, "tasks": [{"name": "Sentiment!", "recipe": "x"}, values["tasks"][1]]})
    (tmp_path / "nested.yaml").write_text(yaml.safe_dump(values))
    nested = Recipe.from_dict({**values, "tasks": [values["tasks"][0], {"name": "inner", "recipe": str(tmp_path / "nested.yaml")}]})
    with pytest.raises(ConfigError, match="itself multi-task"):
        task_recipes(nested)
    singles = task_recipes(recipe)
    assert singles["ner"].data.task == "token-classification"
    assert singles["ner"].student == recipe.student and singles["sentiment"].distill == recipe.distill


def test_teachers_with_different_tokenizers_are_refused():
    def prepared(vocab):
        return SimpleNamespace(teacher=SimpleNamespace(tokenizer=SimpleNamespace(get_vocab=lambda **_: vocab)))

    _check_shared_tokenizer({"a": prepared({"x": 0}), "b": prepared({"x": 0})})
    with pytest.raises(ConfigError, match="different tokenizers"):
        _check_shared_tokenizer({"a": prepared({"x": 0}), "b": prepared({"y": 0})})


def test_server_answers_every_task(multitask_artifact):
    import threading
    import time
    import urllib.request

    import uvicorn
    from test_serve import free_port

    from kdedge_runtime.serve import ServeConfig, create_app

    _, folder = multitask_artifact
    config = ServeConfig(port=free_port())
    server = uvicorn.Server(uvicorn.Config(create_app(Predictor(folder, threads=1), config), host=config.host,
                                           port=config.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        base = f"http://{config.host}:{config.port}"
        health = json.loads(urllib.request.urlopen(f"{base}/health").read())
        assert health["task"] == "multi-task" and set(health["tasks"]) == {"sentiment", "ner"}
        request = urllib.request.Request(f"{base}/predict", data=json.dumps({"texts": ["the game was fun"]}).encode(),
                                         headers={"Content-Type": "application/json"})
        [result] = json.loads(urllib.request.urlopen(request).read())["results"]
        assert set(result) == {"sentiment", "ner"} and set(result["sentiment"]) == {"label", "score"}
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_cli_refuses_single_task_options_for_a_multitask_recipe(tmp_path):
    from typer.testing import CliRunner

    from kdedge.cli import app

    result = CliRunner().invoke(app, ["compress", "--recipe", "multitask-bilstm", "--teacher", "bert-base",
                                      "-o", str(tmp_path / "a"), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "do not apply to a multi-task recipe" in result.output
    assert not (tmp_path / "a").exists()


def test_a_second_run_reuses_the_stages_and_from_stage_reruns_them(multitask_artifact, tiny_teacher_dir, tiny_conll,
                                                                    tiny_csv):
    result, folder = multitask_artifact
    root = folder.parent
    recipe = staged_recipe(root, tiny_teacher_dir, tiny_conll, tiny_csv)
    stamp = root / "run" / "student-multitask-bilstm" / "3-labels" / "stage.json"
    before = stamp.stat().st_mtime_ns
    again = compress_multitask(recipe, root / "again", root / "run")
    assert stamp.stat().st_mtime_ns == before  # reused, not retrained
    assert again.manifest["metrics"]["student"] == result.manifest["metrics"]["student"]
    rerun = compress_multitask(recipe, root / "rerun", root / "run", from_stage="labels")
    assert stamp.stat().st_mtime_ns != before
    assert rerun.manifest["metrics"]["student"] == result.manifest["metrics"]["student"]  # seeded: the same student
    with pytest.raises(ConfigError, match="no distillation stage named 'nope'"):
        compress_multitask(recipe, root / "never", root / "run", from_stage="nope")


def test_kept_multitask_stages_are_not_reused_for_another_shape(multitask_artifact, tiny_teacher_dir, tiny_conll,
                                                               tiny_csv, monkeypatch):
    from kdedge.students import sizing

    result, folder = multitask_artifact
    root = folder.parent
    stamp = root / "run" / "student-multitask-bilstm" / "1-representation" / "stage.json"
    before = stamp.stat().st_mtime_ns
    width = result.manifest["student"]["config"]["encoder"]["embedding_dim"]
    # the same recipe, but a sizing solver (a later kdedge version) that chooses another shape for it
    monkeypatch.setattr(sizing, "EMBEDDING_GRID", tuple(w for w in sizing.EMBEDDING_GRID if w != width))
    reshaped = compress_multitask(staged_recipe(root, tiny_teacher_dir, tiny_conll, tiny_csv), root / "reshaped",
                                  root / "run")
    assert reshaped.manifest["student"]["config"]["encoder"]["embedding_dim"] != width
    assert stamp.stat().st_mtime_ns != before


def test_v2_clients_get_every_tasks_outputs(multitask_artifact):
    pytest.importorskip("tritonclient.http")
    from test_serve import running
    from test_v2 import check_every_client

    from kdedge_runtime.serve import ServeConfig

    _, folder = multitask_artifact
    with running(Predictor(folder, threads=1), ServeConfig(model_name="tweets")) as url:
        check_every_client(url, "tweets", Predictor(folder, threads=1))
