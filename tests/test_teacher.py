import pytest
import torch

from kdedge.errors import TeacherError
from kdedge.teacher.loading import count_params, load_teacher, resolve_teacher

LABELS = ("negative", "neutral", "positive")


def test_fresh_encoder_needs_finetuning(tiny_teacher_dir):
    teacher = load_teacher(str(tiny_teacher_dir), LABELS)
    assert not teacher.head_trained
    assert teacher.params == count_params(teacher.model) > 0
    assert teacher.tokenizer.encode("the movie was great").tokens[1:-1] == ["the", "movie", "was", "great"]


def test_trained_head_is_used_and_reordered_to_our_labels(tiny_teacher_dir, tmp_path):
    teacher = load_teacher(str(tiny_teacher_dir), LABELS)
    teacher.model.config.id2label = {0: "POSITIVE", 1: "negative", 2: "Neutral"}  # different order and case
    teacher.model.config.label2id = {v: k for k, v in teacher.model.config.id2label.items()}
    teacher.model.save_pretrained(tmp_path)
    teacher.hf_tokenizer.save_pretrained(tmp_path)
    inputs = {"input_ids": torch.tensor([[2, 40, 41, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    with torch.no_grad():
        before = teacher.model(**inputs).logits[0]
    loaded = load_teacher(str(tmp_path), LABELS)
    assert loaded.head_trained
    with torch.no_grad():
        after = loaded.model(**inputs).logits[0]
    torch.testing.assert_close(after, before[[1, 2, 0]])


def test_aliases_resolve():
    assert resolve_teacher("bert-base") == "bert-base-uncased"


def test_missing_local_folder_is_a_clear_error(tmp_path):
    with pytest.raises(TeacherError, match="does not exist"):
        resolve_teacher(str(tmp_path / "no-model"))


def test_folder_without_config(tmp_path):
    with pytest.raises(TeacherError, match="config.json"):
        resolve_teacher(str(tmp_path))


def test_unknown_hub_model_says_how_to_pass_a_local_path(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TeacherError) as error:
        load_teacher("no-such-org/no-such-model", LABELS)
    assert "--teacher /path/to/model" in error.value.hint


@pytest.mark.parametrize("epochs, rows, steps", [
    (None, 4_000, 250),  # the built-in default: 2 epochs of 4,000 rows at batch 32, as before min_steps
    (None, 10_000, 626),  # a large split: 2 epochs (313 batches each)
    (None, 800, 250),  # a small split: 2 epochs would be 50 updates; raised to min_steps (10 epochs)
    (2.0, 800, 50),  # epochs set by the user are what runs
    (0.5, 100, 2),
])
def test_fine_tuning_makes_two_epochs_or_min_steps_by_default_and_the_epochs_asked_for_otherwise(epochs, rows, steps):
    from kdedge.teacher.config import TeacherConfig, finetune_steps

    assert finetune_steps(TeacherConfig(epochs=epochs), rows) == steps
    assert finetune_steps(TeacherConfig(epochs=None, min_steps=0), 800) == 50
