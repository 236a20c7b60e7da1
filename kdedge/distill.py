"""Train a student on teacher logits over the transfer set, with early stopping on dev accuracy."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from kdedge_runtime.encoding import TextEncoder

from kdedge.batching import training_batches
from kdedge.data import LabelledSplit
from kdedge.labelling import model_logits
from kdedge.losses import HardLabelsLoss, SoftLogitsLoss
from kdedge.progress import Reporter
from kdedge.recipe import DistillConfig


@dataclass
class DistillResult:
    best_dev_accuracy: float
    best_step: int
    steps: int
    history: list[dict] = field(default_factory=list)  # one row per evaluation: step, epoch, loss, dev_accuracy


def distill(
    student: torch.nn.Module,
    encoder: TextEncoder,
    transfer_texts: list[str],
    teacher_logits: np.ndarray,
    dev: LabelledSplit,
    config: DistillConfig,
    reporter: Reporter,
) -> DistillResult:
    """Soft (KL at temperature T) plus hard (teacher argmax) losses; keeps the best dev checkpoint."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    soft, hard = SoftLogitsLoss(config.temperature), HardLabelsLoss()
    targets = torch.from_numpy(teacher_logits)
    id_lists = encoder.encode(transfer_texts)
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(id_lists) // config.batch_size)
    eval_every = max(1, steps_per_epoch // config.evals_per_epoch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=steps_per_epoch * config.epochs, pct_start=0.1
    )

    result = DistillResult(best_dev_accuracy=-1.0, best_step=0, steps=0)
    best_state = copy.deepcopy(student.state_dict())
    evaluations_without_gain = 0
    recent_losses: list[float] = []
    stop = False
    with reporter.progress("distilling student", steps_per_epoch * config.epochs) as task:
        for epoch in range(config.epochs):
            student.train()
            for indices, input_ids, attention_mask in training_batches(encoder, id_lists, config.batch_size, rng):
                logits = student(input_ids, attention_mask)
                batch_targets = targets[indices]
                loss = config.soft_weight * soft(logits, batch_targets) + config.hard_weight * hard(logits, batch_targets)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                result.steps += 1
                recent_losses.append(loss.item())
                task.advance(info=f"loss {np.mean(recent_losses[-50:]):.3f} · best dev {max(result.best_dev_accuracy, 0):.3f}")
                if result.steps % eval_every == 0 or result.steps == steps_per_epoch * config.epochs:
                    accuracy = dev_accuracy(student, encoder, dev)
                    result.history.append(
                        {"step": result.steps, "epoch": epoch + 1, "loss": float(np.mean(recent_losses[-eval_every:])),
                         "dev_accuracy": accuracy}
                    )
                    if accuracy > result.best_dev_accuracy:
                        result.best_dev_accuracy, result.best_step = accuracy, result.steps
                        best_state = copy.deepcopy(student.state_dict())
                        evaluations_without_gain = 0
                    else:
                        evaluations_without_gain += 1
                        if evaluations_without_gain >= config.patience:
                            stop = True
                            break
                    student.train()
            if stop:
                reporter.note(f"early stop at step {result.steps}: no dev gain in {config.patience} evaluations")
                break
    student.load_state_dict(best_state)
    student.eval()
    return result


def dev_accuracy(student: torch.nn.Module, encoder: TextEncoder, dev: LabelledSplit) -> float:
    logits = model_logits(student, encoder, dev.texts, batch_size=256)
    return float((logits.argmax(axis=1) == dev.labels).mean())
