"""Layer-wise reconstruction: re-fit an extracted Transformer student so each kept part reproduces the teacher.

Cutting the residual stream to a subset of the teacher's hidden dimensions is what hurts an extracted
student most (MiniLM, 384 → 160 dims: every prediction collapses to one class), because every
matrix that reads the stream has lost the inputs it was trained with and every LayerNorm now
normalises over fewer dimensions. Reconstruction repairs this in closed form, in one forward pass over
a sample of unlabelled texts, from the bottom layer up (the linear least-squares layer-wise
reconstruction of Kwon et al. 2022, "A Fast Post-Training Pruning Framework for Transformers"):

- each Linear (query, key, value, attention output, FFN in and out, pooler, classifier) is re-fitted by
  ridge regression so that, from the inputs the *student* actually computes, it produces the
  teacher's output on the kept units; the penalty pulls towards the extracted weights, so a student
  that lost nothing keeps them exactly;
- the two output Linears of a layer are fitted to the teacher's residual sum (output + skip
  connection), which absorbs the error the student's skip connection carries;
- each LayerNorm's gain and bias are re-fitted per dimension against the teacher's normalised output.

The teacher runs once with hooks that record its targets; then the student runs once with hooks that
re-fit each module just before it computes, so every fit sees the already re-fitted layers below.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from kdedge.students.extract import TransformerSelection

DEFAULT_RIDGE = 0.01  # penalty towards the extracted weights, relative to the mean input power


def ridge_fit(inputs: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
              ridge: float = DEFAULT_RIDGE) -> tuple[torch.Tensor, torch.Tensor]:
    """argmin ‖inputs·Wᵀ + b − targets‖² + λ‖W − weight‖² (+ a tiny λ on b − bias), λ = ridge · mean input power."""
    x, y = inputs.double(), targets.double()
    count, width = x.shape
    augmented = torch.cat([x, torch.ones(count, 1, dtype=x.dtype)], dim=1)
    gram = augmented.T @ augmented
    strength = ridge * float(gram.diagonal()[:width].mean()) + 1e-12
    penalty = torch.full((width + 1,), strength, dtype=x.dtype)
    penalty[width] = strength * 1e-3
    prior = torch.cat([weight.double().T, bias.double()[None]], dim=0)
    solution = torch.linalg.solve(gram + torch.diag(penalty), augmented.T @ y + penalty[:, None] * prior)
    return solution[:width].T.to(weight.dtype), solution[width].to(bias.dtype)


def layer_norm_fit(inputs: torch.Tensor, targets: torch.Tensor, eps: float, gain: torch.Tensor,
                   ridge: float = DEFAULT_RIDGE) -> tuple[torch.Tensor, torch.Tensor]:
    """Per dimension: targets ≈ gain' · normalised(inputs) + bias', gain' pulled towards `gain`."""
    x, y = inputs.double(), targets.double()
    normalised = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + eps)
    x_mean, y_mean = normalised.mean(0), y.mean(0)
    covariance = ((normalised - x_mean) * (y - y_mean)).mean(0)
    variance = ((normalised - x_mean) ** 2).mean(0)
    strength = ridge * float(variance.mean()) + 1e-12
    new_gain = (covariance + strength * gain.double()) / (variance + strength)
    return new_gain.to(gain.dtype), (y_mean - new_gain * x_mean).to(gain.dtype)


@torch.no_grad()
def reconstruct(
    student: nn.Module,
    teacher_model: nn.Module,
    selection: TransformerSelection,
    teacher_input_ids: torch.Tensor,
    student_input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    ridge: float = DEFAULT_RIDGE,
) -> None:
    """Re-fit `student` (a TransformerClassifier extracted with `selection`) in place.

    Both models read the same token positions: `student_input_ids` are `teacher_input_ids` mapped to
    the student's (trimmed) vocabulary. Every real token of the sample is one regression row.
    """
    teacher_bert, student_bert = teacher_model.bert, student.model.bert
    real = attention_mask.bool()
    hidden = torch.tensor(selection.hidden)
    teacher_config = teacher_model.config
    query_scale = (student.config.head_dim / (teacher_config.hidden_size // teacher_config.num_attention_heads)) ** 0.5

    def rows(tensor: torch.Tensor) -> torch.Tensor:  # [batch, seq, dim] → [real tokens, dim]; [batch, dim] as is
        return tensor[real] if tensor.dim() == 3 else tensor

    targets: dict[str, torch.Tensor] = {}
    handles: list = []

    def record_output(name: str, index: torch.Tensor | None = None, factor: float = 1.0) -> Callable:
        def hook(module, inputs, output):
            output = output[0] if isinstance(output, tuple) else output
            targets[name] = rows(output if index is None else output[..., index]) * factor
        return hook

    def record_input(name: str) -> Callable:  # a LayerNorm's input: a layer's output plus its skip connection
        def hook(module, inputs):
            targets[name] = rows(inputs[0][..., hidden])
        return hook

    def after(module: nn.Module, hook: Callable) -> None:
        handles.append(module.register_forward_hook(hook))

    def before(module: nn.Module, hook: Callable) -> None:
        handles.append(module.register_forward_pre_hook(hook))

    after(teacher_bert.embeddings.LayerNorm, record_output("embeddings.norm", hidden))
    for position, index in enumerate(selection.layers):
        layer = teacher_bert.encoder.layer[index]
        query_key = torch.tensor(selection.query_key_dims[position])
        after(layer.attention.self.query, record_output(f"{position}.query", query_key, query_scale))
        after(layer.attention.self.key, record_output(f"{position}.key", query_key))
        value = torch.tensor(selection.value_dims[position])
        after(layer.attention.self.value, record_output(f"{position}.value", value))
        before(layer.attention.output.LayerNorm, record_input(f"{position}.attention.sum"))
        after(layer.attention.output.LayerNorm, record_output(f"{position}.attention.norm", hidden))
        after(layer.intermediate.dense, record_output(f"{position}.ffn", torch.tensor(selection.ffn[position])))
        before(layer.output.LayerNorm, record_input(f"{position}.output.sum"))
        after(layer.output.LayerNorm, record_output(f"{position}.output.norm", hidden))
    has_pooler = getattr(teacher_bert, "pooler", None) is not None and getattr(student_bert, "pooler", None) is not None
    if has_pooler:
        after(teacher_bert.pooler.dense, record_output("pooler", hidden))
    after(teacher_model.classifier, record_output("classifier"))
    _run(teacher_model, teacher_input_ids, attention_mask, handles)

    skip: dict[str, torch.Tensor] = {}

    def fit_linear(name: str, minus_skip: str | None = None) -> Callable:
        def hook(module, inputs):
            target = targets[name] - skip[minus_skip] if minus_skip else targets[name]
            weight, bias = ridge_fit(rows(inputs[0]), target, module.weight, module.bias, ridge)
            module.weight.copy_(weight)
            module.bias.copy_(bias)
        return hook

    def fit_norm(name: str) -> Callable:
        def hook(module, inputs):
            gain, bias = layer_norm_fit(rows(inputs[0]), targets[name], module.eps, module.weight, ridge)
            module.weight.copy_(gain)
            module.bias.copy_(bias)
        return hook

    def keep_skip(name: str) -> Callable:  # BertSelfOutput / BertOutput: forward(hidden_states, input_tensor)
        def hook(module, inputs):
            skip[name] = rows(inputs[1])
        return hook

    before(student_bert.embeddings.LayerNorm, fit_norm("embeddings.norm"))
    for position, layer in enumerate(student_bert.encoder.layer):
        before(layer.attention.self.query, fit_linear(f"{position}.query"))
        before(layer.attention.self.key, fit_linear(f"{position}.key"))
        before(layer.attention.self.value, fit_linear(f"{position}.value"))
        before(layer.attention.output, keep_skip(f"{position}.attention"))
        before(layer.attention.output.dense, fit_linear(f"{position}.attention.sum", f"{position}.attention"))
        before(layer.attention.output.LayerNorm, fit_norm(f"{position}.attention.norm"))
        before(layer.intermediate.dense, fit_linear(f"{position}.ffn"))
        before(layer.output, keep_skip(f"{position}.output"))
        before(layer.output.dense, fit_linear(f"{position}.output.sum", f"{position}.output"))
        before(layer.output.LayerNorm, fit_norm(f"{position}.output.norm"))
    if has_pooler:
        before(student_bert.pooler.dense, fit_linear("pooler"))
    before(student.model.classifier, fit_linear("classifier"))
    _run(student.model, student_input_ids, attention_mask, handles)


def _run(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, handles: list) -> None:
    """One forward pass in eval mode with `handles` attached, removed afterwards whatever happens."""
    training = model.training
    model.eval()
    try:
        model(input_ids=input_ids, attention_mask=attention_mask)
    finally:
        for handle in handles:
            handle.remove()
        handles.clear()
        model.train(training)
