"""Every command and option of `kdedge` (the Typer app, through click) and `kdedge-runtime` (argparse)."""

from __future__ import annotations

import argparse
import inspect

import typer

from kdedge.cli import app
from kdedge.reference import table_cell
from kdedge_runtime.cli import build_parser


def cli_reference() -> str:
    """The CLI reference page's body."""
    group = typer.main.get_command(app)
    parts = ["Generated from the command lines themselves (`kdedge --help` and `kdedge-runtime --help` print the "
             "same).", "", "## kdedge", "", inspect.cleandoc(group.help or ""), ""]
    for name, command in sorted(group.commands.items()):
        parts += [f"### kdedge {name}", "", inspect.cleandoc(command.help or ""), "",
                  "| option | type | default | meaning |", "|---|---|---|---|"]
        for param in command.params:
            parts.append(f"| `{_param_name(param)}`{_aliases(param)} | {_click_type(param)} | {_click_default(param)} "
                         f"| {table_cell(getattr(param, 'help', None) or '')} |")
        parts.append("")
    parser = build_parser()
    parts += ["## kdedge-runtime", "", parser.description or "", "",
              "`kdedge-runtime --version` prints its version.", ""]
    for name, sub in _runtime_commands().items():
        parts += [f"### kdedge-runtime {name}", "", sub.description or _runtime_help(name), "",
                  "| option | default | meaning |", "|---|---|---|"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            default = "" if action.default in (None, argparse.SUPPRESS, False) else f"`{action.default}`"
            parts.append(f"| `{_action_name(action)}`{_action_aliases(action)} | {default} | "
                         f"{table_cell(action.help or '')} |")
        parts.append("")
    return "\n".join(parts)


def _runtime_commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


def _runtime_help(name: str) -> str:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return next((choice.help or "" for choice in subparsers._choices_actions if choice.dest == name), "")


def _param_name(param) -> str:
    if param.param_type_name == "argument":
        return param.name.upper()
    return max(param.opts, key=len)


def _aliases(param) -> str:
    if param.param_type_name == "argument":
        return ""
    others = [opt for opt in [*param.opts, *param.secondary_opts] if opt != _param_name(param)]
    return "".join(f", `{opt}`" for opt in others)


def _click_type(param) -> str:
    if getattr(param, "is_flag", False):
        return "flag"
    annotation = param.type_descriptor.annotation
    several = str(annotation).startswith("list[")
    name = str(annotation)[5:-1] if several else getattr(annotation, "__name__", str(annotation))
    name = name.replace("pathlib.", "")
    name = {"str": "text", "Path": "path", "int": "integer", "float": "number"}.get(name, name)
    return f"{name}, several" if several else name


def _click_default(param) -> str:
    default = param.default
    if default in (None, False, ()) or isinstance(default, list) and not default:
        return ""
    return f"`{default}`"


def _action_name(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.dest.upper()
    return max(action.option_strings, key=len)


def _action_aliases(action: argparse.Action) -> str:
    others = [opt for opt in action.option_strings if opt != _action_name(action)]
    return "".join(f", `{opt}`" for opt in others)
