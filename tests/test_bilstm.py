import torch

from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig
from kdedge.teacher.loading import count_params


def make_student(**fields):
    values = dict(vocab_size=50, embedding_dim=8, hidden_size=12, num_labels=3, teacher_vocab_size=100, dropout=0.0)
    torch.manual_seed(0)
    token_map = torch.randint(0, values["vocab_size"], (values["teacher_vocab_size"],))
    return BiLSTMClassifier(BiLSTMConfig(**{**values, **fields}), token_map).eval()


def test_parameter_formula_matches_the_module():
    for embedding_dim, hidden_size in [(8, 12), (64, 96), (17, 5)]:
        student = make_student(embedding_dim=embedding_dim, hidden_size=hidden_size)
        assert count_params(student) == student.config.params


def test_token_map_is_a_buffer_not_a_parameter():
    student = make_student()
    assert "token_map" in dict(student.named_buffers())
    assert "token_map" in student.state_dict()


def test_padding_never_changes_the_prediction():
    student = make_student()
    ids = torch.randint(1, 100, (1, 9))
    alone = student(ids, torch.ones_like(ids))
    padded_ids = torch.cat([ids, torch.zeros(1, 7, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 9, dtype=torch.long), torch.zeros(1, 7, dtype=torch.long)], dim=1)
    torch.testing.assert_close(student(padded_ids, mask), alone)


def test_backward_direction_reads_the_text_right_to_left():
    student = make_student()
    ids = torch.randint(1, 100, (1, 6))
    states = student.features(ids, torch.ones_like(ids)).hidden_states[-1]
    reversed_states = student.features(ids.flip(1), torch.ones_like(ids)).hidden_states[-1]
    hidden = student.config.hidden_size
    # the backward half on the text equals the forward LSTM's view of the reversed text, reversed
    expected, _ = student.backward_lstm(student.embeddings(student.token_map[ids.flip(1)]))
    torch.testing.assert_close(states[..., hidden:], expected.flip(1))
    assert not torch.allclose(states, reversed_states)


def test_casing_is_read_from_the_ids_and_starts_neutral():
    student = make_student(casing_stride=100)
    assert count_params(student) == student.config.params
    ids = torch.randint(1, 100, (1, 6))
    title = ids + 2 * 100  # the same tokens, every word Title-cased
    mask = torch.ones_like(ids)
    torch.testing.assert_close(student(title, mask), student(ids, mask))  # a zero casing table: no change yet
    with torch.no_grad():
        student.casing.weight.normal_()
    assert not torch.allclose(student(title, mask), student(ids, mask))
    assert student.casing in student.layer_groups()[-1]  # unfrozen with the embeddings


def test_casing_exports_to_onnx(tmp_path):
    import numpy as np
    import onnxruntime as ort

    from kdedge.export.onnx import export_onnx

    student = make_student(casing_stride=100)
    with torch.no_grad():
        student.casing.weight.normal_()
    ids = torch.randint(1, 100, (2, 7)) + torch.randint(0, 7, (2, 7)) * 100
    mask = torch.ones_like(ids)
    export_onnx(student, tmp_path / "model.onnx", 17, (ids, mask))
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    [out] = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    np.testing.assert_allclose(out, student(ids, mask).detach().numpy(), atol=1e-5)
