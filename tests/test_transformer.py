import torch

from kdedge.students.transformer import TransformerClassifier, TransformerConfig
from kdedge.teacher.loading import count_params


def test_parameter_formula_matches_the_module():
    for config in (TransformerConfig(500, 64, 2, 2, 128, 3, 32), TransformerConfig(1000, 96, 3, 3, 200, 2, 64)):
        assert count_params(TransformerClassifier(config)) == config.params


def test_is_a_standard_hugging_face_model(tmp_path):
    from transformers import AutoModelForSequenceClassification

    student = TransformerClassifier(TransformerConfig(300, 32, 2, 2, 64, 3, 16)).eval()
    student.model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, 300, (2, 9))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids, attention_mask=mask).logits, student(ids, mask))
    assert student.model.config._attn_implementation == "eager"
