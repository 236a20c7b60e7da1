import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from kdedge.errors import ExportValidationError
from kdedge.export.onnx import check_logit_parity, export_onnx
from kdedge.export.quantize import quantize_dynamic_int8
from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    token_map = torch.randint(0, 60, (120,))
    return BiLSTMClassifier(BiLSTMConfig(60, 16, 24, 3, 120, dropout=0.0), token_map).eval()


def run(path, ids, mask):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]


def test_export_has_dynamic_axes_and_matches_torch(student, tmp_path):
    path = export_onnx(student, tmp_path / "model.onnx", 17, (torch.ones(2, 5, dtype=torch.long),) * 2)
    graph = onnx.load(str(path)).graph
    assert "LSTM" in {node.op_type for node in graph.node}
    for length, batch in [(3, 1), (40, 7)]:  # other shapes than the export sample
        ids = torch.randint(0, 120, (batch, length))
        mask = torch.ones_like(ids)
        mask[0, length // 2 :] = 0
        with torch.no_grad():
            expected = student(ids, mask).numpy()
        assert check_logit_parity(expected, run(path, ids, mask), 1e-4, "export") < 1e-5


def test_dynamic_int8_is_smaller_and_agrees(student, tmp_path):
    fp32 = export_onnx(student, tmp_path / "model.onnx", 17, (torch.ones(2, 5, dtype=torch.long),) * 2)
    int8 = quantize_dynamic_int8(fp32, tmp_path / "model.int8.onnx")
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert ops & {"DynamicQuantizeLSTM", "MatMulInteger", "DynamicQuantizeLinear"}
    ids = torch.randint(0, 120, (64, 20))
    mask = torch.ones_like(ids)
    full, quantized = run(fp32, ids, mask), run(int8, ids, mask)
    assert np.abs(full - quantized).max() < 0.1
    assert (full.argmax(axis=1) == quantized.argmax(axis=1)).mean() >= 0.9


def test_parity_failure_names_the_output_and_the_difference():
    with pytest.raises(ExportValidationError) as error:
        check_logit_parity(np.zeros((3, 2)), np.array([[0, 0], [0, 0.5], [0, 0]]), 1e-4, "the export")
    assert "'logits'" in error.value.message and "0.5" in error.value.message and "row 1" in error.value.message


class _OutlierRows(torch.nn.Module):
    """Embeddings, then a Linear whose first output row is 200x larger than the rest (as reconstructed
    Transformer layers have): one int8 scale for the whole matrix leaves the other rows a few levels."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embeddings = torch.nn.Embedding(50, 32)
        self.dense = torch.nn.Linear(32, 6)
        with torch.no_grad():
            self.dense.weight[0] *= 200

    def forward(self, input_ids, attention_mask):
        weights = attention_mask.unsqueeze(-1).float()
        return (self.dense(self.embeddings(input_ids)) * weights).sum(dim=1) / weights.sum(dim=1)


def test_per_channel_int8_keeps_the_small_channels_beside_an_outlier(tmp_path):
    model = _OutlierRows().eval()
    fp32 = export_onnx(model, tmp_path / "model.onnx", 17, (torch.ones(2, 5, dtype=torch.long),) * 2)
    ids = torch.randint(0, 50, (64, 12))
    mask = torch.ones_like(ids)
    full = run(fp32, ids, mask)
    errors = {}
    for per_channel in (False, True):
        path = quantize_dynamic_int8(fp32, tmp_path / f"model.{per_channel}.onnx", per_channel=per_channel)
        errors[per_channel] = np.abs(run(path, ids, mask) - full)[:, 1:].max()  # the ordinary channels
    assert errors[True] < errors[False] / 5, errors
