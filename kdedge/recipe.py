"""Recipes: one YAML file describes a whole compression run.

A recipe loads (with `yaml.safe_load`) into frozen dataclasses, is validated once, and rejects unknown
keys and out-of-range values with an error that names the key and what is allowed. Any field can be
overridden from the command line with `--set section.field=value`.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from kdedge.data.config import DataConfig
from kdedge.data.tasks import SEQUENCE
from kdedge.distill.config import DistillConfig, LossWeights, StageConfig, parse_layer_pair
from kdedge.errors import ConfigError
from kdedge.export.config import ExportConfig
from kdedge.students.config import INITS, StudentConfig, parse_latency, parse_target
from kdedge.teacher.config import TeacherConfig

RECIPE_VERSION = 1

# each section's dataclass lives with its stage; a recipe composes them
__all__ = ["DataConfig", "DistillConfig", "ExportConfig", "LossWeights", "Recipe", "StageConfig", "StudentConfig",
           "TaskConfig", "TeacherConfig", "load_recipe", "parse_layer_pair", "parse_target"]


@dataclass(frozen=True)
class TaskConfig:
    """One task of a multi-task recipe: its name (an output of the artifact) and the single-task recipe
    (built-in name or YAML path) whose teacher and data it uses."""

    name: str  # the task's name: its output in the artifact and its key in predictions
    recipe: str  # the single-task recipe (built-in name or YAML path) whose teacher and data the task uses


@dataclass(frozen=True)
class Recipe:
    """A whole compression run: teacher → data → student → distillation → export.

    With `tasks` (two or more), the run is multi-task (MKD): one student with a shared encoder and one
    head per task, each task with its own teacher and data taken from the task's recipe; the `teacher`
    and `data` sections of the multi-task recipe itself are then not used.
    """

    version: int = RECIPE_VERSION  # recipe format version; this kdedge reads 1
    name: str = "custom"  # the run's name: the default artifact and run folders are artifacts/NAME and runs/NAME
    description: str = ""  # one line shown by `kdedge recipes`
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    data: DataConfig = field(default_factory=DataConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    tasks: tuple[TaskConfig, ...] = ()  # two or more tasks make a multi-task (MKD) run: one student, one head per task

    @property
    def multitask(self) -> bool:
        return bool(self.tasks)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Recipe":
        recipe = _build(cls, values, path="")
        _validate(recipe)
        return recipe

    def with_values(self, values: dict[str, Any]) -> "Recipe":
        """Set `section.field` keys to Python values exactly as given: a command-line file name, column or
        model stays the string it was typed as (no YAML parsing), then the recipe is validated again.

        `distill.epochs` also sets the epochs of every stage the recipe has at that point, so that one
        override shortens or lengthens a staged recipe as it does a one-stage one (in a recipe file a
        stage's own `epochs` wins; a later `distill.stages` override replaces the stages whole)."""
        tree = self.to_dict()
        for key, value in values.items():
            key = key.strip()
            if key == "distill.epochs":
                for stage in tree["distill"]["stages"]:
                    stage["epochs"] = value
            parts = key.split(".")
            target = tree
            for part in parts[:-1]:
                if not isinstance(target.get(part), dict):
                    raise ConfigError(
                        f"unknown recipe section {part!r} in {key!r}",
                        hint=f"known sections: {', '.join(k for k, v in tree.items() if isinstance(v, dict))}",
                    )
                target = target[part]
            target[parts[-1]] = value
        return Recipe.from_dict(tree)

    def with_overrides(self, assignments: list[str]) -> "Recipe":
        """Apply `section.field=value` strings (`--set`), the value read as a YAML scalar or list: `3` is a
        number, `null` is none, `[a, b]` a list, and quotes keep a string."""
        values: dict[str, Any] = {}
        for assignment in assignments:
            key, separator, raw_value = assignment.partition("=")
            if not separator or not key.strip():
                raise ConfigError(
                    f"cannot read override {assignment!r}", hint="write it as section.field=value, e.g. distill.epochs=3"
                )
            try:
                value = yaml.safe_load(raw_value) if raw_value.strip() else None
            except yaml.YAMLError as error:
                problem = str(getattr(error, "problem", None) or "not valid YAML")
                raise ConfigError(f"cannot read the value of --set {assignment!r}: {problem}",
                                  hint="quote a value that is meant as text, e.g. --set 'data.source=\"a: b.csv\"'"
                                  ) from None
            values.pop(key.strip(), None)  # a later assignment of the same key wins, in its own place
            values[key.strip()] = value
        return self.with_values(values)


def builtin_recipe_dir() -> Path:
    installed = Path(__file__).parent / "_recipes"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "recipes"


DEFAULT_RECIPE = "sentiment-bilstm"


def builtin_recipes() -> dict[str, Path]:
    """Built-in recipe name (the file name without `.yaml`) → path."""
    return {path.stem: path for path in sorted(builtin_recipe_dir().glob("*.yaml"))}


def load_recipe(name_or_path: str | Path | None = None) -> Recipe:
    """Load a built-in recipe by name, or a recipe file by path; `None` is the built-in default."""
    reference = str(name_or_path) if name_or_path is not None else DEFAULT_RECIPE
    known = builtin_recipes()
    path = known.get(reference) or Path(reference)
    if not path.is_file():
        raise ConfigError(
            f"no recipe named {reference!r}",
            hint=f"use a YAML file path or one of the built-in recipes: {', '.join(known) or '(none found)'}",
        )
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path} is not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(values, dict):
        raise ConfigError(f"recipe {path} must be a mapping of sections", hint="see recipes/ for examples")
    return Recipe.from_dict(values)


def sibling_recipe(name: str, kind: str) -> str | None:
    """The built-in recipe for a `kind` student on built-in recipe `name`'s teacher and data (e.g. ner-bilstm →
    ner-transformer): the learning rate, dropout and schedule tuned for that kind. None where there is none."""
    known = builtin_recipes()
    if name not in known:
        return None
    base = load_recipe(name)
    if base.student.kind == kind:
        return name
    for other in known:
        candidate = load_recipe(other)
        if (candidate.student.kind == kind and candidate.teacher == base.teacher and candidate.data == base.data
                and candidate.tasks == base.tasks):
            return other
    return None


def _build(cls: type, values: Any, path: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"recipe key {path or '(top level)'!r} must be a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        where = f"in {path!r}" if path else "at the top level"
        raise ConfigError(
            f"unknown recipe key {_join(path, unknown[0])!r}", hint=f"known keys {where}: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        key = _join(path, name)
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = _build(kind, value or {}, key)
        else:
            kwargs[name] = _coerce(kind, value, key)
    return cls(**kwargs)


def _coerce(kind: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        # int before float so that 4000 stays a count while 0.1 is a fraction
        for option in sorted((o for o in options if o is not type(None)), key=lambda o: o is float):
            try:
                return _coerce(option, value, key)
            except ConfigError:
                continue
        names = " or ".join(_type_name(o) for o in options)
        raise ConfigError(f"recipe key {key!r} = {value!r} must be {names}")
    if origin is Literal:
        allowed = typing.get_args(kind)
        if isinstance(value, bool):  # YAML 1.1 reads no/off/false and yes/on/true as booleans
            spelled = [a for a in allowed if str(a).lower() in (_YAML_TRUE if value else _YAML_FALSE)]
            value = spelled[0] if spelled else value
        if value not in allowed:
            raise ConfigError(
                f"recipe key {key!r} = {value!r} is not allowed", hint=f"choose one of: {', '.join(map(str, allowed))}"
            )
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"recipe key {key!r} must be a list, got {value!r}")
        return tuple(_coerce(typing.get_args(kind)[0], item, f"{key}[{i}]") for i, item in enumerate(value))
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, key)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    raise ConfigError(f"recipe key {key!r} = {value!r} must be {_type_name(kind)}")


def _validate(recipe: Recipe) -> None:
    if recipe.version != RECIPE_VERSION:
        raise ConfigError(
            f"recipe version {recipe.version} is not supported", hint=f"this kdedge reads version {RECIPE_VERSION}"
        )
    positive = {
        "teacher.epochs": 1 if recipe.teacher.epochs is None else recipe.teacher.epochs,
        "teacher.min_steps": recipe.teacher.min_steps,
        "teacher.learning_rate": recipe.teacher.learning_rate,
        "teacher.batch_size": recipe.teacher.batch_size,
        "data.max_length": recipe.data.max_length,
        "distill.epochs": recipe.distill.epochs,
        "distill.batch_size": recipe.distill.batch_size,
        "distill.learning_rate": recipe.distill.learning_rate,
        "distill.temperature": recipe.distill.temperature,
        "distill.evals_per_epoch": recipe.distill.evals_per_epoch,
        "distill.patience": recipe.distill.patience,
        "export.atol": recipe.export.atol,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"recipe key {key!r} = {value!r} must be positive")
    if recipe.data.max_length < 4:
        raise ConfigError("recipe key 'data.max_length' must be at least 4")
    for key in ("dev_size", "test_size", "train_size"):
        size = getattr(recipe.data, key)
        if size is None:
            continue
        if isinstance(size, float) and not 0 < size < 1:
            raise ConfigError(f"recipe key 'data.{key}' = {size} must be a fraction in (0, 1) or a row count")
        if isinstance(size, int) and size <= 0:
            raise ConfigError(f"recipe key 'data.{key}' = {size} must be positive")
    if not 0 <= recipe.export.max_accuracy_drop <= 1:
        raise ConfigError("recipe key 'export.max_accuracy_drop' must be in [0, 1] (0.01 = one point of accuracy)")
    if recipe.export.calibration_size <= 0:
        raise ConfigError("recipe key 'export.calibration_size' must be positive")
    if not 0 < recipe.export.min_agreement <= 1:
        raise ConfigError("recipe key 'export.min_agreement' must be in (0, 1]")
    if not 0 < recipe.export.quality_bar <= 1:
        raise ConfigError(f"recipe key 'export.quality_bar' must be in (0, 1], got {recipe.export.quality_bar}",
                          hint="the share of the teacher's test metric the student must keep, e.g. 0.95")
    if recipe.student.casing and recipe.student.kind != "bilstm":
        raise ConfigError("student.casing is for BiLSTM students",
                          hint="set student.casing=false for a Transformer student")
    if recipe.student.kind == "bag":
        if recipe.student.latency is not None:
            raise ConfigError("student.latency does not choose a bag student's shape: its cost is a lookup per token "
                              "whatever the shape", hint="drop --latency, or use --student bilstm or transformer")
        if recipe.multitask or recipe.data.task != SEQUENCE:
            raise ConfigError("a bag student classifies whole texts: one task of sequence classification",
                              hint="use --student bilstm or transformer for NER and multi-task recipes")
    if recipe.distill.entity_weight < 0:
        raise ConfigError(f"recipe key 'distill.entity_weight' = {recipe.distill.entity_weight!r} must be 0 or more",
                          hint="0 weighs every word the same; 4 makes a sure entity count five times an O word")
    if not 0 <= recipe.student.dropout < 1:
        raise ConfigError("recipe key 'student.dropout' must be in [0, 1)")
    if recipe.student.target is not None:
        parse_target(recipe.student.target)
    if recipe.student.latency is not None:
        parse_latency(recipe.student.latency)
        if recipe.multitask:
            raise ConfigError("student.latency is not supported for multi-task recipes yet",
                              hint="size a multi-task student with student.target or student.max_params")
    if recipe.student.init not in INITS[recipe.student.kind]:
        raise ConfigError(
            f"student.init {recipe.student.init!r} does not apply to a {recipe.student.kind} student",
            hint=f"choose one of: {', '.join(INITS[recipe.student.kind])}",
        )
    if recipe.student.target is None and recipe.student.max_params is None:
        raise ConfigError("the recipe sets neither student.target nor student.max_params", hint="set one, e.g. target: 30x")
    if recipe.distill.soft_weight < 0 or recipe.distill.hard_weight < 0 or (
        recipe.distill.soft_weight == 0 and recipe.distill.hard_weight == 0
    ):
        raise ConfigError("distill.soft_weight and distill.hard_weight must be non-negative and not both zero")
    _validate_stages(recipe)
    _validate_tasks(recipe)


def _validate_tasks(recipe: Recipe) -> None:
    if not recipe.tasks:
        return
    names = [task.name for task in recipe.tasks]
    if len(names) < 2:
        raise ConfigError("a multi-task recipe needs at least two tasks", hint="or drop `tasks` for a single-task run")
    if len(set(names)) != len(names):
        raise ConfigError(f"tasks repeats a task name: {', '.join(names)}", hint="give each task its own name")
    for name in names:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ConfigError(f"task name {name!r} is not allowed",
                              hint="use lower-case letters, digits and _ (it names an output of the artifact)")


def task_recipes(recipe: Recipe) -> dict[str, Recipe]:
    """A multi-task recipe's tasks as single-task recipes: each task recipe's teacher and data with the
    multi-task recipe's student, distillation and export sections."""
    tasks = {}
    for task in recipe.tasks:
        single = load_recipe(task.recipe)
        if single.multitask:
            raise ConfigError(f"task {task.name!r} names recipe {task.recipe!r}, which is itself multi-task",
                              hint="name a single-task recipe for each task")
        values = {**single.to_dict(), "student": recipe.to_dict()["student"], "distill": recipe.to_dict()["distill"],
                  "export": recipe.to_dict()["export"], "name": f"{recipe.name}/{task.name}"}
        try:
            tasks[task.name] = Recipe.from_dict(values)
        except ConfigError as error:
            raise ConfigError(f"task {task.name!r}: {error.message}", hint=error.hint) from None
    return tasks


def _validate_stages(recipe: Recipe) -> None:
    distill = recipe.distill
    names = [stage.name for stage in distill.stages]
    if len(set(names)) != len(names):
        raise ConfigError(f"distill.stages repeats a stage name: {', '.join(names)}", hint="give each stage its own name")
    for i, stage in enumerate(distill.resolved_stages):
        where = f"distill.stages[{i}] ({stage.name})"
        weights = dataclasses.asdict(stage.losses)
        if any(value < 0 for value in weights.values()) or not any(weights.values()):
            raise ConfigError(f"{where} needs at least one positive loss weight and none negative",
                              hint=f"losses: {', '.join(weights)}")
        if stage.losses.attention > 0 and recipe.student.kind != "transformer":
            raise ConfigError(f"{where} matches attention, which a {recipe.student.kind} student does not have",
                              hint="use the attention loss with --student transformer, or hidden_states")
        for key in ("epochs", "learning_rate"):
            value = getattr(stage, key)
            if value is not None and value <= 0:
                raise ConfigError(f"recipe key '{where}.{key}' = {value!r} must be positive")
    distill.layer_pairs
    parse_layer_pair(distill.attention_layer)


_YAML_TRUE = ("yes", "on", "true", "y")
_YAML_FALSE = ("no", "off", "false", "n")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is tuple:
        return "a list"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}.get(
        kind, str(kind)
    )


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(item) for item in value]
    return value
