"""Every recipe key with its type, default and meaning, read from the configuration dataclasses.

A key's meaning is the comment on its field's line (and any comment lines directly above it): the
dataclasses are the single source, and `test_reference` fails on a field without one."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import typing
from dataclasses import dataclass

from kdedge.recipe import Recipe
from kdedge.reference import table_cell


@dataclass(frozen=True)
class RecipeKey:
    key: str  # dotted, as `--set` takes it: `distill.epochs`
    type: str
    default: str
    meaning: str


def field_comments(cls: type) -> dict[str, str]:
    """Field name → its comment: the comment on the field's own line, after any comment lines directly above."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments: dict[int, str] = {}
    own_line: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
            if not token.line[: token.start[1]].strip():
                own_line.add(token.start[0])
    meanings = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above, line = [], node.lineno - 1
            while line in own_line:
                above.insert(0, comments[line])
                line -= 1
            trailing = [comments[node.lineno]] if node.lineno in comments and node.lineno not in own_line else []
            meanings[node.target.id] = " ".join(above + trailing)
    return meanings


def recipe_keys(cls: type = Recipe, prefix: str = "") -> list[RecipeKey]:
    """The keys of `cls` and of every section below it, in declaration order."""
    hints = typing.get_type_hints(cls)
    meanings = field_comments(cls)
    keys = []
    for item in dataclasses.fields(cls):
        kind = hints[item.name]
        key = f"{prefix}{item.name}"
        if dataclasses.is_dataclass(kind) and item.name != "losses":
            keys.extend(recipe_keys(kind, f"{key}."))
            continue
        keys.append(RecipeKey(key, _type_name(kind), _default(item), meanings.get(item.name, "")))
        if item.name == "stages":  # a list of StageConfig: its keys, as `distill.stages[].name`
            keys.extend(recipe_keys(typing.get_args(kind)[0], f"{key}[]."))
        elif item.name == "losses":
            keys.extend(recipe_keys(kind, f"{key}."))
        elif item.name == "tasks":
            keys.extend(recipe_keys(typing.get_args(kind)[0], f"{key}[]."))
    return keys


def sections() -> list[tuple[str, type]]:
    """The recipe's sections (name, dataclass), for their docstrings."""
    hints = typing.get_type_hints(Recipe)
    return [(item.name, hints[item.name]) for item in dataclasses.fields(Recipe)
            if dataclasses.is_dataclass(hints[item.name])]


def recipe_reference() -> str:
    """The recipe reference page's body: each section's description, then a table of its keys."""
    keys = recipe_keys()
    parts = ["Every key a recipe (or `--set section.key=value`) takes, generated from the configuration "
             "dataclasses in `kdedge`. A key left out takes its default.", ""]
    groups = [("Top level", None, [k for k in keys if "." not in k.key and not k.key.startswith("tasks")]
               + [k for k in keys if k.key.startswith("tasks")])]
    for name, cls in sections():
        groups.append((f"`{name}`", cls, [k for k in keys if k.key.startswith(f"{name}.")]))
    for title, cls, group in groups:
        parts += [f"## {title}", ""]
        if cls is not None and cls.__doc__:
            parts += [inspect.cleandoc(cls.__doc__), ""]
        parts += ["| key | type | default | meaning |", "|---|---|---|---|"]
        parts += [f"| `{k.key}` | {table_cell(k.type)} | {table_cell(k.default)} | {table_cell(k.meaning)} |"
                  for k in group]
        parts.append("")
    return "\n".join(parts)


def _type_name(kind) -> str:
    origin = typing.get_origin(kind)
    if origin is typing.Literal:
        return " | ".join(f"`{value}`" for value in typing.get_args(kind))
    if origin is tuple:
        args = [a for a in typing.get_args(kind) if a is not Ellipsis]
        return f"list of {_type_name(args[0])}"
    args = typing.get_args(kind)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return " or ".join(_type_name(a) for a in rest) + " or null"
    if args:
        return " or ".join(_type_name(a) for a in args)
    return getattr(kind, "__name__", str(kind))


def _default(item: dataclasses.Field) -> str:
    if item.default is not dataclasses.MISSING:
        value = item.default
    elif item.default_factory is not dataclasses.MISSING:
        value = item.default_factory()
    else:
        return "(required)"
    if dataclasses.is_dataclass(value):
        return "(see below)"
    if value is None:
        return "`null`"
    if isinstance(value, tuple):
        return "`[" + ", ".join(str(v) for v in value) + "]`" if value else "`[]`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"
