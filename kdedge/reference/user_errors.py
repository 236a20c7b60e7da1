"""Every error a user can meet, read from its `raise` site: the message, the fix, where it is raised.

Read from the source with `ast` (no run needed), so an error added anywhere appears in the generated
troubleshooting page; the examples beside them are the bad-input tests' own table
(`tests/bad_input_cases.py`), each a case that a test runs and checks."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import kdedge
import kdedge_runtime
from kdedge.reference import table_cell

# error class → (who sees it, position of the message among the call's arguments)
USER_ERRORS = {
    "ConfigError": ("kdedge: a recipe or option value", 0),
    "DataError": ("kdedge: the data", 0),
    "TeacherError": ("kdedge: the teacher", 0),
    "ExportValidationError": ("kdedge: an export gate", 0),
    "KdedgeError": ("kdedge", 0),
    "ArtifactError": ("kdedge-runtime: an artifact", 0),
    "InputError": ("kdedge-runtime: input texts or files", 0),
    "KdedgeRuntimeError": ("kdedge-runtime", 0),
    "ProtocolError": ("kdedge-runtime serve: an Open Inference Protocol request (HTTP 4xx)", 1),
}


@dataclass(frozen=True)
class ErrorSite:
    kind: str  # the error class
    module: str  # dotted module name
    line: int
    message: str  # the message, with `<expression>` where the code fills a value in
    hint: str  # the fix (kdedge's `hint`; the runtime's messages carry it in the message)


def source_roots() -> list[tuple[str, Path]]:
    return [("kdedge", Path(kdedge.__file__).parent), ("kdedge_runtime", Path(kdedge_runtime.__file__).parent)]


def error_sites() -> list[ErrorSite]:
    """Every `raise SomeUserError(...)` in kdedge and kdedge_runtime, in module and line order."""
    sites = []
    for package, root in source_roots():
        for path in sorted(root.rglob("*.py")):
            if "reference" in path.relative_to(root).parts:
                continue
            module = ".".join([package, *path.relative_to(root).with_suffix("").parts]).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                call = node.exc if isinstance(node, ast.Raise) else None
                if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
                    continue
                if call.func.id not in USER_ERRORS:
                    continue
                position = USER_ERRORS[call.func.id][1]
                message = _text(call.args[position]) if len(call.args) > position else ""
                hint_node = next((k.value for k in call.keywords if k.arg == "hint"), None)
                if hint_node is None and call.func.id in ("ConfigError", "DataError", "TeacherError",
                                                          "ExportValidationError") and len(call.args) > 1:
                    hint_node = call.args[1]
                sites.append(ErrorSite(call.func.id, module, node.lineno, message,
                                       _text(hint_node) if hint_node is not None else ""))
    return sorted(sites, key=lambda site: (site.module, site.line))


def troubleshooting_reference(examples: dict[str, tuple[str, list[str]]] | None = None) -> str:
    """The troubleshooting page's body. `examples`: case name → (command, words its one line contains),
    from the bad-input tests' table."""
    parts = ["kdedge prints a user error as one line, `error: <what is wrong> — <how to fix it>`, and exits with "
             "status 2 (`--debug` adds the traceback); kdedge-runtime prints `error: <message>` and exits with 2. "
             "In Python every error kdedge raises is a `kdedge.errors.KdedgeError` (`.message`, `.hint`) and every "
             "one the runtime raises a `kdedge_runtime.KdedgeRuntimeError`.", ""]
    if examples:
        parts += ["## Tested examples", "",
                  "Each row is a case of the bad-input tests (`tests/bad_input_cases.py`): the command, and words its "
                  "one-line error is checked to contain.", "",
                  "| case | command | the error says |", "|---|---|---|"]
        for name, (command, words) in sorted(examples.items()):
            parts.append(f"| {table_cell(name)} | {table_cell(f'`{command}`')} | {table_cell(' … '.join(words))} |")
        parts.append("")
    parts += ["## Every error, where it is raised", "",
              "`<name>` marks a value the message fills in. Generated from the source's `raise` statements.", ""]
    sites = error_sites()
    for family in dict.fromkeys(USER_ERRORS[site.kind][0] for site in sites):
        parts += [f"### {family}", "", "| message | fix | raised in |", "|---|---|---|"]
        for site in sites:
            if USER_ERRORS[site.kind][0] == family:
                parts.append(f"| {table_cell(site.message)} | {table_cell(site.hint)} | "
                             f"`{site.module}:{site.line}` |")
        parts.append("")
    return "\n".join(parts)


def _text(node: ast.AST) -> str:
    """A message expression as readable text: literals as written, filled-in values as `<expression>`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(value) for value in node.values)
    if isinstance(node, ast.FormattedValue):
        return f"<{_short(node.value)}>"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    if isinstance(node, ast.IfExp):
        return f"{_text(node.body)} / {_text(node.orelse)}"
    return f"<{_short(node)}>"


def _short(node: ast.AST) -> str:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and node.args):  # ', '.join(names) reads as <names>
        node = node.args[0]
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."
