"""Train a student from the teacher's cached outputs, one stage at a time, with early stopping on dev.

A stage weighs any of the losses in `kdedge.distill.losses` (soft logits, hard teacher labels, gold labels,
hidden states, attention). XtremeDistil's schedule is three stages: match the teacher's internal
representations, then its soft logits, then its hard labels with gradual unfreezing from the top
layer down. Each stage starts from the previous stage's best checkpoint and keeps its own best.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from kdedge.data.batching import inference_batches, training_batches
from kdedge.data.metrics import entity_metrics
from kdedge.data.tasks import SEQUENCE, TOKEN, gather_words, predicted_tags
from kdedge.distill.config import DistillConfig, StageConfig, parse_layer_pair
from kdedge.distill.early_stopping import EarlyStopping
from kdedge.distill.losses import UNLABELLED, build_loss
from kdedge.distill.losses.weighting import entity_weights
from kdedge.distill.scale import Scale
from kdedge.errors import ConfigError
from kdedge.progress import Reporter
from kdedge.teacher.features import masked_mean, teacher_features
from kdedge.teacher.labelling import model_logits
from kdedge_runtime.encoding import TextEncoder


@dataclass
class DistillSet:
    """Texts with the teacher's targets, row for row: logits, pooled hidden states per teacher layer,
    and gold labels (`UNLABELLED` where a row has none). Arrays may be memory-mapped chunks."""

    texts: list[str]
    logits: object  # np.ndarray or ChunkedArray: [rows, labels], or [rows, max_length, labels] per word (NER)
    hidden: dict[int, object] = field(default_factory=dict)  # teacher layer (≥ 0) → [rows, teacher width]
    gold: np.ndarray | None = None  # [rows] or, for NER, [rows, max_length] word tags; UNLABELLED where none
    task: str = SEQUENCE
    labels: tuple[str, ...] = ()  # label names: the entity metric of a NER dev set needs them

    def __post_init__(self):
        if self.gold is None:
            shape = (len(self.texts), self.logits.shape[1]) if self.task == TOKEN else (len(self.texts),)
            self.gold = np.full(shape, UNLABELLED, dtype=np.int64)


@dataclass
class OnlineTeacher:
    """The teacher run beside the student on the student's own tokens (for attention matching).

    `teacher_ids[student_id]` is the teacher's id of the same token (a trimmed vocabulary); None when
    the student reads teacher ids already.
    """

    model: nn.Module
    teacher_ids: torch.Tensor | None = None

    def __post_init__(self):
        # fused attention kernels (sdpa) do not return attention probabilities; eager does
        self._original = getattr(self.model.config, "_attn_implementation", None) or "eager"
        if self._original != "eager":
            self.model.set_attn_implementation("eager")

    def restore(self) -> None:
        """Give the teacher back its own attention kernel (it is timed against the student later)."""
        if self._original != "eager":
            self.model.set_attn_implementation(self._original)

    def attentions(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ids = self.teacher_ids.to(input_ids.device)[input_ids] if self.teacher_ids is not None else input_ids
        self.model.eval()
        return teacher_features(self.model, ids, attention_mask, attentions=True).attentions


@dataclass
class StageResult:
    name: str
    best_dev_score: float
    best_step: int
    steps: int
    monitor: str  # "dev_score" or "dev_loss": what early stopping watched
    history: list[dict] = field(default_factory=list)


@dataclass
class DistillResult:
    best_dev_score: float
    best_step: int
    steps: int
    history: list[dict] = field(default_factory=list)  # one row per evaluation: stage, step, epoch, loss, dev_*
    stages: list[StageResult] = field(default_factory=list)


class StageObjective(nn.Module):
    """The weighted sum of one stage's losses; owns the hidden-state projections it learns."""

    def __init__(self, stage: StageConfig, config: DistillConfig, pairs: list[tuple[int, int]],
                 student_dims: dict[int, int], teacher_dims: dict[int, int], teacher: OnlineTeacher | None):
        super().__init__()
        self.weights = stage.losses
        self.pairs = list(pairs) if stage.losses.hidden_states > 0 else []
        options = {"soft_logits": {"temperature": config.temperature},
                   "hidden_states": {"student_dims": [student_dims[s] for s, _ in self.pairs],
                                     "teacher_dims": [teacher_dims[t] for _, t in self.pairs]}}
        # only the losses this stage weighs; the hidden-state projections are learned with the student
        self.losses = nn.ModuleDict({name: build_loss(name, **options.get(name, {}))
                                     for name, weight in dataclasses.asdict(stage.losses).items() if weight > 0})
        self.attention_pair = parse_layer_pair(config.attention_layer)
        self.teacher = teacher
        self.entity_weight = config.entity_weight

    def forward(self, student: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                indices: list[int], data: DistillSet, firsts: list[list[int]] | None = None) -> torch.Tensor:
        """`firsts`: for NER, each text's first-sub-token positions; logit losses then compare words."""
        w = self.weights
        features = student.features(input_ids, attention_mask, attentions=w.attention > 0)
        logits, total = features.logits, features.logits.new_zeros(())
        select = None
        device = logits.device
        teacher_logits = (torch.from_numpy(np.asarray(data.logits[indices])).to(device)
                          if w.soft_logits or w.hard_labels else None)
        if firsts is not None:  # per-word rows: [batch, words, labels] → [words in the batch, labels]
            logits, mask = gather_words(logits, [firsts[i] for i in indices])
            if teacher_logits is not None:  # and only words the teacher saw too (its row is not all zero)
                mask = mask & teacher_logits[:, : mask.shape[1]].ne(0).any(dim=-1)
            logits, select = logits[mask], (mask, mask.shape[1])
        targets = gold = weights = None
        if teacher_logits is not None:
            targets = teacher_logits if select is None else teacher_logits[:, : select[1]][select[0]]
        if w.gold_labels:
            gold = torch.from_numpy(data.gold[indices]).to(device)
            if select is not None:
                gold = gold[:, : select[1]][select[0]]
        if select is not None and self.entity_weight > 0 and "O" in data.labels and (targets is not None or
                                                                                     gold is not None):
            weights = entity_weights(targets, gold, data.labels.index("O"), self.entity_weight, UNLABELLED)
        if targets is not None:
            if w.soft_logits:
                total = total + w.soft_logits * self.losses["soft_logits"](logits, targets, weights)
            if w.hard_labels:
                total = total + w.hard_labels * self.losses["hard_labels"](logits, targets, weights)
        if gold is not None:
            total = total + w.gold_labels * self.losses["gold_labels"](logits, gold, weights)
        if w.hidden_states:
            teacher_states = [torch.from_numpy(np.asarray(data.hidden[t][indices])).to(device).float()
                              for _, t in self.pairs]
            if firsts is None:  # one pooled representation per text
                student_states = [masked_mean(features.hidden_states[s], attention_mask) for s, _ in self.pairs]
            else:  # NER: word by word, at each word's first sub-token, where the teacher has a state
                words = [gather_words(features.hidden_states[s], [firsts[i] for i in indices]) for s, _ in self.pairs]
                student_states, teacher_by_word = [], []
                for (states, mask), teacher in zip(words, teacher_states, strict=True):
                    teacher = teacher[:, : mask.shape[1]]
                    mask = mask & teacher.ne(0).any(dim=-1)
                    student_states.append(states[mask])
                    teacher_by_word.append(teacher[mask])
                teacher_states = teacher_by_word
            total = total + w.hidden_states * self.losses["hidden_states"](student_states, teacher_states)
        if w.attention:
            student_layer, teacher_layer = self.attention_pair
            teacher_attention = self.teacher.attentions(input_ids, attention_mask)[teacher_layer]
            total = total + w.attention * self.losses["attention"](features.attentions[student_layer],
                                                                     teacher_attention, attention_mask)
        return total


def check_attention_layer(config: DistillConfig, student_layers: int, teacher_layers: int) -> None:
    """`distill.attention_layer` names a layer each model has (attention maps: one per layer, no embeddings)."""
    s, t = parse_layer_pair(config.attention_layer)
    if not (-student_layers <= s < student_layers and -teacher_layers <= t < teacher_layers):
        raise ConfigError(f"distill.attention_layer {config.attention_layer!r} is out of range",
                          hint=f"the student has layers 0..{student_layers - 1} and the teacher 0..{teacher_layers - 1} "
                               "(-1 = the last)")


def resolve_layer_pairs(config: DistillConfig, student_layers: int, teacher_layers: int) -> list[tuple[int, int]]:
    """Recipe layer pairs → non-negative hidden-state indices (0 = embeddings), checked against both depths."""
    pairs = []
    for s, t in config.layer_pairs:
        s_index, t_index = s % (student_layers + 1), t % (teacher_layers + 1)
        if not (-student_layers - 1 <= s <= student_layers and -teacher_layers - 1 <= t <= teacher_layers):
            raise ConfigError(
                f"distill.hidden_layers pair {s}:{t} is out of range",
                hint=f"the student has layers 0..{student_layers} and the teacher 0..{teacher_layers} (0 = embeddings)",
            )
        pairs.append((s_index, t_index))
    return pairs


@dataclass
class StageTask:
    """One task of a (multi-task) stage: the student as seen by this task (`features`, `forward`,
    `layer_groups`), its distillation sets and, for attention matching, its teacher."""

    name: str
    model: nn.Module
    train: DistillSet
    dev: DistillSet
    layer_pairs: list[tuple[int, int]] = field(default_factory=list)
    teacher: OnlineTeacher | None = None


def task_weights(sizes: list[int], sampling: str, epoch: int, epochs: int) -> np.ndarray:
    """Probability of each task for the next batch: ∝ size^α, α = 1 (proportional), 0 (uniform), or
    annealed from 1 to 0.2 over the epochs (Stickland & Murray, 2019)."""
    alpha = {"proportional": 1.0, "uniform": 0.0}.get(sampling)
    if alpha is None:
        alpha = 1.0 - 0.8 * epoch / max(epochs - 1, 1)
    weights = np.asarray(sizes, dtype=np.float64) ** alpha
    return weights / weights.sum()


class _TrainingStep(nn.Module):
    """The student and every task's objective as one module, so that DistributedDataParallel sees the
    whole forward pass of a training step (and averages every gradient it produces)."""

    def __init__(self, student: nn.Module, tasks: list[StageTask], objectives: list[StageObjective]):
        super().__init__()
        self.student, self.objectives, self.tasks = student, nn.ModuleList(objectives), tasks

    def forward(self, number: int, input_ids: torch.Tensor, attention_mask: torch.Tensor, indices: list[int],
                firsts: list[list[int]] | None) -> torch.Tensor:
        task = self.tasks[number]
        return self.objectives[number](task.model, input_ids, attention_mask, indices, task.train, firsts)


def run_tasks_stage(student: nn.Module, encoder: TextEncoder, tasks: list[StageTask], stage: StageConfig,
                    config: DistillConfig, reporter: Reporter, scale: Scale | None = None) -> StageResult:
    """Train one stage on one or more tasks that share `student`, and leave it at its best dev checkpoint.

    Each step trains on one batch of one task, drawn by `config.task_sampling`; an epoch has as many
    steps as all tasks have batches (shared out among processes under `accelerate launch`). Early
    stopping watches the mean of the tasks' dev scores (or losses), evaluated by the main process.
    """
    scale = scale or Scale.create(config.mixed_precision)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    task_rng = np.random.default_rng(config.seed + 1)  # the same draws on every process
    epochs = stage.epochs or config.epochs
    learning_rate = stage.learning_rate or config.learning_rate
    encoded, dev_firsts, objectives = [], [], []
    for task in tasks:
        encoded.append(encoder.encode_words(task.train.texts) if task.train.task == TOKEN
                       else (encoder.encode(task.train.texts), None))
        dev_firsts.append(encoder.encode_words(task.dev.texts)[1] if task.dev.task == TOKEN else None)
        objectives.append(_objective(task.model, encoder, task.train, stage, config, task.layer_pairs, task.teacher))
    step_module = _TrainingStep(student, tasks, objectives)
    parameters = list(step_module.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=config.weight_decay)
    batches_per_task = [-(-len(ids) // config.batch_size) for ids, _ in encoded]
    steps_per_epoch = -(-sum(batches_per_task) // scale.processes)  # per process
    total_steps = steps_per_epoch * epochs
    eval_every = max(1, steps_per_epoch // config.evals_per_epoch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=total_steps,
                                                   pct_start=0.1)
    trainer, optimizer = scale.accelerator.prepare(step_module, optimizer)
    monitor = "dev_score" if stage.losses.uses_logits else "dev_loss"
    result = StageResult(stage.name, -1.0, 0, 0, monitor)
    stopping = EarlyStopping(config.patience, monitor)
    stopping.start(lambda: copy.deepcopy(student.state_dict()))
    recent_losses, stop = [], False
    groups = student.layer_groups() if stage.unfreeze == "gradual" else []
    queues: list[list] = [[] for _ in tasks]
    with reporter.progress(f"stage {stage.name}", total_steps) as progress:
        for epoch in range(epochs):
            if groups:
                _unfreeze_top(groups, epoch + 1)
            weights = task_weights(batches_per_task, config.task_sampling, epoch, epochs)
            for _ in range(steps_per_epoch):
                number = int(task_rng.choice(len(tasks), p=weights)) if len(tasks) > 1 else 0
                if not queues[number]:  # this task's next epoch of shuffled batches (this process's share)
                    batches = training_batches(encoder, encoded[number][0], config.batch_size, rng)
                    queues[number] = scale.share(batches)[::-1]
                indices, input_ids, attention_mask = queues[number].pop()
                trainer.train()
                with scale.accelerator.autocast():
                    loss = trainer(number, input_ids.to(scale.device), attention_mask.to(scale.device), indices,
                                   encoded[number][1])
                optimizer.zero_grad()
                scale.accelerator.backward(loss)
                scale.accelerator.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                schedule.step()
                result.steps += 1
                recent_losses.append(loss.item())
                progress.advance(info=f"loss {np.mean(recent_losses[-50:]):.3f}")
                if scale.is_main:
                    reporter.log({f"distill/{stage.name}/loss": recent_losses[-1],
                                  f"distill/{stage.name}/learning_rate": schedule.get_last_lr()[0]}, step=result.steps)
                if result.steps % eval_every and result.steps != total_steps:
                    continue
                row = None
                if scale.is_main:
                    row = _evaluate(tasks, objectives, dev_firsts, encoder, config, stage, epoch, result.steps,
                                    float(np.mean(recent_losses[-eval_every:])))
                row = scale.broadcast(row)
                result.history.append(row)
                if scale.is_main:
                    reporter.log({f"distill/{stage.name}/{key}": value for key, value in _flat(row).items()
                                  if key.startswith("dev_")}, step=result.steps)
                if stopping.update(result.steps, row["dev_score"], row["dev_loss"],
                                   lambda: copy.deepcopy(student.state_dict())):
                    result.best_step, result.best_dev_score = stopping.best_step, stopping.best_score
                elif stopping.should_stop:
                    stop = True
                    break
            if stop:
                reporter.note(f"stage {stage.name}: early stop at step {result.steps}, "
                              f"no dev gain in {config.patience} evaluations")
                break
    for parameter in student.parameters():
        parameter.requires_grad_(True)
    student.load_state_dict(stopping.best_state)
    student.eval()
    return result


def _evaluate(tasks, objectives, dev_firsts, encoder, config, stage, epoch, step, loss) -> dict:
    """One row of the stage's history: the training loss and every task's dev score and loss."""
    row = {"stage": stage.name, "step": step, "epoch": epoch + 1, "loss": loss}
    scores = [dev_score(task.model, encoder, task.dev) for task in tasks]
    losses = [_dev_loss(task.model, encoder, task.dev, objective, config.batch_size, firsts)
              for task, objective, firsts in zip(tasks, objectives, dev_firsts, strict=True)]
    row["dev_score"], row["dev_loss"] = float(np.mean(scores)), float(np.mean(losses))
    if len(tasks) > 1:
        row["dev_scores"] = {task.name: score for task, score in zip(tasks, scores, strict=True)}
    return row


def distill(
    student: nn.Module,
    encoder: TextEncoder,
    train: DistillSet,
    dev: DistillSet,
    config: DistillConfig,
    reporter: Reporter,
    layer_pairs: list[tuple[int, int]] = (),
    teacher: OnlineTeacher | None = None,
    after_stage: Callable[[int, StageResult], None] | None = None,
    first_stage: int = 0,
    scale: Scale | None = None,
) -> DistillResult:
    """Run the recipe's stages in order from `first_stage`; `after_stage(i, result)` can keep each one."""
    task = StageTask("", student, train, dev, list(layer_pairs), teacher)
    return distill_tasks(student, encoder, [task], config, reporter, after_stage, first_stage, scale)


def distill_tasks(
    student: nn.Module,
    encoder: TextEncoder,
    tasks: list[StageTask],
    config: DistillConfig,
    reporter: Reporter,
    after_stage: Callable[[int, StageResult], None] | None = None,
    first_stage: int = 0,
    scale: Scale | None = None,
) -> DistillResult:
    """`distill` for a student shared by several tasks (MKD): every stage trains on all of them.

    The student (and any teacher run beside it) stays on `scale.device` afterwards."""
    scale = scale or Scale.create(config.mixed_precision)
    for task in tasks:
        if task.teacher is not None:
            task.teacher.model.to(scale.device)
    result = DistillResult(-1.0, 0, 0)
    for number, stage in enumerate(config.resolved_stages):
        if number < first_stage:
            continue
        reporter.step(f"distillation stage {number + 1}/{len(config.resolved_stages)}: {stage.name} "
                      f"({_describe(stage)})")
        outcome = run_tasks_stage(student, encoder, tasks, stage, config, reporter, scale)
        best = next((row for row in outcome.history if row["step"] == outcome.best_step), {})
        per_task = ", ".join(f"{name} {score:.4f}" for name, score in best.get("dev_scores", {}).items())
        reporter.note(f"stage {stage.name}: best dev score {outcome.best_dev_score:.4f}"
                      f"{f' (mean of {per_task})' if per_task else ''} at step "
                      f"{outcome.best_step} of {outcome.steps} (kept by {outcome.monitor})")
        result.stages.append(outcome)
        result.history += [{**row, "step": row["step"] + result.steps} for row in outcome.history]
        result.best_dev_score, result.best_step = outcome.best_dev_score, result.steps + outcome.best_step
        result.steps += outcome.steps
        if after_stage is not None:
            after_stage(number, outcome)
    return result


def dev_score(student: nn.Module, encoder: TextEncoder, dev: DistillSet) -> float:
    """Accuracy for sequence classification; entity-level F1 (seqeval) for NER."""
    logits = model_logits(student, encoder, dev.texts, batch_size=256, task=dev.task)
    if dev.task != TOKEN:
        return float((logits.argmax(axis=1) == dev.gold).mean())
    gold = dev.gold
    counts = [min(len(text.split()), gold.shape[1]) for text in dev.texts]
    return entity_metrics([[dev.labels[t] for t in gold[i, :n]] for i, n in enumerate(counts)],
                          [predicted_tags(logits[i], n, dev.labels) for i, n in enumerate(counts)])["entity_f1"]


def _objective(student, encoder, train, stage, config, layer_pairs, teacher) -> StageObjective:
    if stage.losses.attention > 0 and teacher is None:
        raise ConfigError(f"stage {stage.name} matches attention but no teacher runs beside the student")
    student_dims, teacher_dims = {}, {}
    if stage.losses.hidden_states > 0:
        sample = [train.texts[0]] if train.texts else ["sample"]
        input_ids, attention_mask = (torch.from_numpy(a) for a in encoder.pad(encoder.encode(sample)))
        with torch.no_grad():
            states = student.features(input_ids, attention_mask).hidden_states
        for s, t in layer_pairs:
            if s >= len(states):
                raise ConfigError(f"distill.hidden_layers names student layer {s}, but the student has "
                                  f"{len(states) - 1} layers", hint="use -1 for its last layer")
        student_dims = {s: states[s].shape[-1] for s, _ in layer_pairs}
        teacher_dims = {t: np.asarray(train.hidden[t][[0]]).shape[-1] for _, t in layer_pairs}
    return StageObjective(stage, config, layer_pairs, student_dims, teacher_dims, teacher)


@torch.no_grad()
def _dev_loss(student, encoder, dev: DistillSet, objective: StageObjective, batch_size: int, firsts=None) -> float:
    student.eval()
    total, rows = 0.0, 0
    id_lists = encoder.encode_words(dev.texts)[0] if dev.task == TOKEN else encoder.encode(dev.texts)
    device = next(student.parameters()).device
    for indices, input_ids, attention_mask in inference_batches(encoder, id_lists, batch_size):
        loss = objective(student, input_ids.to(device), attention_mask.to(device), indices, dev, firsts)
        total += loss.item() * len(indices)
        rows += len(indices)
    return total / max(rows, 1)


def _flat(row: dict, prefix: str = "") -> dict[str, float]:
    """An evaluation row's numbers under `a/b` keys (per-task dev scores nested one level)."""
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def _unfreeze_top(groups: list[list[nn.Module]], count: int) -> None:
    """Train the top `count` layer groups and freeze the rest."""
    for number, group in enumerate(groups):
        for module in group:
            for parameter in module.parameters():
                parameter.requires_grad_(number < count)


def _describe(stage: StageConfig) -> str:
    weights = ", ".join(f"{name} {value:g}" for name, value in vars(stage.losses).items() if value)
    return weights + ("; gradual unfreezing" if stage.unfreeze == "gradual" else "")
