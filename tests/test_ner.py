"""NER end to end on the tiny teacher: both students, staged distillation, and entities from the runtime."""

import json

import pytest
from conftest import tiny_ner_recipe

from kdedge.pipeline.compress import compress
from kdedge_runtime import Entity, Predictor
from kdedge_runtime.cli import main as runtime_main


def test_bilstm_ner_learns_entities(ner_artifact):
    result, folder = ner_artifact
    manifest = result.manifest
    assert manifest["task"] == "token-classification"
    assert manifest["labels"] == ["O", "B-geo-loc", "I-geo-loc", "B-person", "I-person"]
    metrics = manifest["metrics"]
    assert set(metrics["teacher"]) == {"entity_f1", "entity_precision", "entity_recall", "word_accuracy"}
    assert metrics["teacher"]["entity_f1"] > 0.9
    assert metrics["student_onnx"]["entity_f1"] > 0.85
    assert {row["metric"] for row in manifest["variants"]} == {"entity_f1"}
    assert all(row["passed"] for row in manifest["variants"])


def test_runtime_returns_entities_with_character_offsets(ner_artifact):
    _, folder = ner_artifact
    text = "so   the movie report was  lovely superb today"
    [result] = Predictor(folder).predict([text])
    found = result.entities
    assert found == (Entity("person", 15, 21, "report", found[0].score),
                     Entity("geo-loc", 27, 40, "lovely superb", found[1].score))
    assert all(0 < entity.score <= 1 for entity in found)
    assert result.tags[3:7] == ("B-person", "O", "B-geo-loc", "I-geo-loc") and not result.truncated
    assert [r.entities for r in Predictor(folder).predict(["", "honestly just so"])] == [(), ()]
    generated = Predictor(folder).predict(t for t in [text, "honestly just so"])  # any iterable, read once
    assert [r.entities for r in generated] == [found, ()]


def test_runtime_cli_prints_entities(ner_artifact, capsys):
    _, folder = ner_artifact
    assert runtime_main(["predict", str(folder), "paper was in happy fun"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert [(e["label"], e["text"]) for e in line["entities"]] == [("person", "paper"), ("geo-loc", "happy fun")]


def test_transformer_ner_with_staged_distillation(tiny_teacher_dir, tiny_conll, tiny_csv, tmp_path):
    stages = [{"name": "representation", "losses": {"hidden_states": 1.0, "attention": 1.0}, "epochs": 2},
              {"name": "logits", "losses": {"soft_logits": 1.0}, "epochs": 4},
              {"name": "labels", "losses": {"hard_labels": 1.0, "gold_labels": 1.0}, "epochs": 4,
               "unfreeze": "gradual"}]
    recipe = tiny_ner_recipe(tiny_teacher_dir, tiny_conll, tiny_csv,
                             student={"kind": "transformer", "init": "etd-impt", "target": "3x", "max_params": None},
                             distill={"stages": stages})
    result = compress(recipe, tmp_path / "artifact", tmp_path / "run")
    assert [stage["stage"] for stage in result.manifest["training"]["history"]] == ["representation", "logits",
                                                                                   "labels"]
    assert result.manifest["metrics"]["student_onnx"]["entity_f1"] > 0.8
    assert result.manifest["fusion"]["Attention"] == result.manifest["student"]["config"]["num_layers"]
    # the tagger built is the one the sizing solver planned (a token classifier has no pooler)
    assert f"{result.manifest['student']['params']:,} parameters" in result.manifest["training"]["shape"]
    [found] = [r.entities for r in Predictor(tmp_path / "artifact").predict(["the movie number was really"])]
    assert [(e.label, e.text) for e in found] == [("person", "number")]


@pytest.mark.parametrize("name, size", [("ner-bilstm", ["student.target=null", "student.max_params=12000"]),
                                        ("ner-transformer", ["student.target=3x"])])
def test_builtin_ner_recipe_runs_on_tiny_models(name, size, tiny_teacher_dir, tiny_conll, tiny_csv, tmp_path):
    from kdedge.recipe import load_recipe

    recipe = load_recipe(name).with_overrides([
        f"teacher.name={tiny_teacher_dir}", "teacher.epochs=10", "teacher.learning_rate=2e-3",
        f"data.source={tiny_conll}", f"data.transfer={tiny_csv}", "data.transfer_encoding=utf-8",
        "data.text_column=review", "data.max_length=32", "data.dev_size=80", "data.test_size=80", *size,
    ])
    assert [stage.name for stage in recipe.distill.stages] == ["representation", "logits", "labels"]
    result = compress(recipe, tmp_path / "artifact", tmp_path / "run")
    assert result.manifest["recipe"]["name"] == name
    assert result.manifest["student"]["kind"] == recipe.student.kind
    assert result.manifest["metrics"]["student_onnx"]["entity_f1"] > 0.8
    # the representation stage matched the teacher word by word, not one pooled state per text
    [field] = [path.name for path in (tmp_path / "run" / "teacher_cache" / "transfer").iterdir() if "hidden" in path.name]
    assert field.startswith("word-hidden-")


def test_both_ner_recipes_share_one_teacher_and_data():
    # so that a run of either reuses the other's fine-tuned teacher and labelled transfer set
    from kdedge.recipe import load_recipe

    bilstm, transformer = (load_recipe(name).to_dict() for name in ("ner-bilstm", "ner-transformer"))
    assert bilstm["teacher"] == transformer["teacher"] and bilstm["data"] == transformer["data"]


def test_words_without_tokens_do_not_shift_the_entities(ner_artifact):
    # a zero-width space, a lone combining accent and a variation selector are words with no token
    _, folder = ner_artifact
    text = "so \u200b the movie report \u0301 was \ufe0f lovely superb today"
    [found] = [r.entities for r in Predictor(folder).predict([text])]
    report, place = text.index("report"), text.index("lovely superb")
    assert [(e.label, e.start, e.end, e.text) for e in found] == [
        ("person", report, report + 6, "report"), ("geo-loc", place, place + 13, "lovely superb")]
    [alone] = Predictor(folder).predict(["\u200b"])
    assert alone.entities == () and alone.tags == ("O",)


def test_a_word_without_a_token_is_o_and_teaches_nothing():
    import numpy as np
    import torch

    from kdedge.data.tasks import gather_words, predicted_tags, token_labels

    labels = ("O", "B-person", "I-person")
    token_logits = torch.tensor([[[9.0, 0, 0], [0, 5.0, 0], [0, 0, 7.0], [1.0, 0, 0]]])  # [CLS] w0 w2 [SEP]
    words, mask = gather_words(token_logits, [[1, -1, 2]])  # word 1 has no token
    assert mask.tolist() == [[True, False, True]]
    assert words[0].tolist() == [[0, 5.0, 0], [0, 0, 0], [0, 0, 7.0]]
    # scoring: the empty row is O (not label 0 by accident), and so are words past the row's end
    assert predicted_tags(words[0].numpy(), 4, labels) == ["B-person", "O", "I-person", "O"]
    assert predicted_tags(np.zeros((2, 3), np.float32), 2, ("B-person", "O", "I-person")) == ["O", "O"]
    # training: the word's tag is not put on any token
    [row] = token_labels([[2, 10, 11, 3]], [[1, -1, 2]], [np.array([1, 2, 2])])
    assert row.tolist() == [-100, 1, 2, -100]


def test_a_taggers_teacher_states_are_cached_word_by_word(tiny_teacher_dir):
    import numpy as np
    import torch

    from kdedge.data.tasks import TOKEN
    from kdedge.teacher.features import teacher_features
    from kdedge.teacher.labelling import teacher_outputs
    from kdedge.teacher.loading import load_teacher
    from kdedge_runtime.encoding import TextEncoder

    teacher = load_teacher(str(tiny_teacher_dir), ("O", "B-person", "I-person"), task=TOKEN)
    encoder = TextEncoder(teacher.tokenizer, 16, teacher.pad_token_id)
    texts = ["the movie was lovely", "superb"]
    out = teacher_outputs(teacher.model, encoder, texts, ["logits", "word-hidden-1"], task=TOKEN)
    states = out["word-hidden-1"]
    assert states.dtype == np.float16 and states.shape == (2, 16, teacher.model.config.hidden_size)
    ids, firsts = encoder.encode_words(texts)
    input_ids, mask = (torch.from_numpy(a) for a in encoder.pad(ids))
    full = teacher_features(teacher.model, input_ids, mask).hidden_states[1]
    for row, first in enumerate(firsts):
        assert np.allclose(states[row, : len(first)], full[row, first].numpy(), atol=2e-2)  # each word's first token
        assert not states[row, len(first):].any()  # and nothing after the last word


def test_a_tagger_with_casing_serves_the_ids_it_was_trained_on(tiny_teacher_dir, tiny_conll, tiny_csv, tmp_path):
    import numpy as np

    recipe = tiny_ner_recipe(tiny_teacher_dir, tiny_conll, tiny_csv, student={"casing": True})
    result = compress(recipe, tmp_path / "artifact", tmp_path / "run")
    stride = result.manifest["casing_stride"]
    assert stride == result.manifest["student"]["config"]["casing_stride"] > 0
    assert result.manifest["metrics"]["student_onnx"]["entity_f1"] > 0.8
    predictor = Predictor(tmp_path / "artifact")
    assert predictor.encoder.casing_stride == stride
    ids = predictor.encoder.encode_words(["The Movie was REALLY lovely"])[0][0]
    assert sorted({i // stride for i in ids}) == [0, 1, 2, 3]  # specials, lower, Title, UPPER
    lower, title = predictor.logits(["the movie was lovely", "The Movie Was Lovely"])
    assert not np.allclose(lower, title)  # the casing reaches the model
