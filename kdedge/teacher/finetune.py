"""Stage 0: fine-tune a teacher whose classification head is new on the labelled train split."""

from __future__ import annotations

import numpy as np
import torch

from kdedge.data.batching import training_batches
from kdedge.data.tasks import IGNORE, SEQUENCE, TOKEN, token_labels
from kdedge.progress import Reporter
from kdedge.teacher.config import TeacherConfig, finetune_steps
from kdedge_runtime.encoding import TextEncoder


def finetune_teacher(
    model: torch.nn.Module,
    encoder: TextEncoder,
    train,
    config: TeacherConfig,
    reporter: Reporter,
    task: str = SEQUENCE,
) -> list[float]:
    """Train all weights with AdamW and linear warm-up/decay; returns the loss per step.

    `train` is a LabelledSplit (one label per text) or, for token classification, a TaggedSplit whose
    word tags go on each word's first sub-token (the other sub-tokens are ignored by the loss).
    """
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    if task == TOKEN:
        id_lists, firsts = encoder.encode_words(train.texts)
        per_token = token_labels(id_lists, firsts, train.tags)

        def labels_of(indices, width):
            batch = torch.full((len(indices), width), IGNORE, dtype=torch.long)
            for row, index in enumerate(indices):
                batch[row, : len(per_token[index])] = torch.from_numpy(per_token[index])
            return batch
    else:
        id_lists = encoder.encode(train.texts)
        labels = torch.from_numpy(train.labels)

        def labels_of(indices, width):
            return labels[indices]
    total_steps = finetune_steps(config, len(id_lists))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    model.train()
    device = next(model.parameters()).device
    losses: list[float] = []
    with reporter.progress("fine-tuning teacher", total_steps) as task:
        while len(losses) < total_steps:
            for indices, input_ids, attention_mask in training_batches(encoder, id_lists, config.batch_size, rng):
                output = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                               labels=labels_of(indices, input_ids.shape[1]).to(device))
                output.loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                losses.append(output.loss.item())
                task.advance(info=f"loss {np.mean(losses[-20:]):.3f}")
                reporter.log({"teacher/loss": losses[-1], "teacher/learning_rate": schedule.get_last_lr()[0]},
                             step=len(losses))
                if len(losses) >= total_steps:
                    break
    model.eval()
    return losses
