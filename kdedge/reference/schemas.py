"""The artifact manifest's and the bench JSON's schemas as reference tables (from the JSON Schema files
the tests validate real output against)."""

from __future__ import annotations

import json
from pathlib import Path

import kdedge_runtime
from kdedge.reference import table_cell

MANIFEST_SCHEMA = Path(kdedge_runtime.__file__).parent / "manifest_schema.json"
BENCH_SCHEMA = Path(kdedge_runtime.__file__).parent / "bench" / "schema.json"


def schema_reference(path: Path) -> str:
    """A table of every property of the schema at `path` (nested objects and array items as `a.b`, `a[].b`)."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    parts = [schema.get("description", ""), "",
             f"Generated from `{path.relative_to(path.parents[2]).as_posix()}`.", "",
             "| field | type | required | meaning |", "|---|---|---|---|"]
    parts += [f"| `{name}` | {table_cell(kind)} | {'yes' if required else ''} | {table_cell(meaning)} |"
              for name, kind, required, meaning in _rows(schema, schema, "")]
    return "\n".join(parts) + "\n"


def _rows(node: dict, root: dict, prefix: str):
    node = _resolved(node, root)
    required = set(node.get("required", ()))
    for name, spec in node.get("properties", {}).items():
        spec = _resolved(spec, root)
        yield f"{prefix}{name}", _type(spec), name in required, spec.get("description", "")
        if "properties" in spec:
            yield from _rows(spec, root, f"{prefix}{name}.")
        items = _resolved(spec.get("items", {}), root) if isinstance(spec.get("items"), dict) else {}
        if "properties" in items:
            yield from _rows(items, root, f"{prefix}{name}[].")


def _resolved(spec: dict, root: dict) -> dict:
    reference = spec.get("$ref", "")
    if reference.startswith("#/"):
        target = root
        for part in reference[2:].split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in spec.items() if k != "$ref"}}
    return spec


def _type(spec: dict) -> str:
    if "enum" in spec:
        return " | ".join(f"`{value}`" for value in spec["enum"])
    kind = spec.get("type", "")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array" and isinstance(spec.get("items"), dict) and spec["items"].get("type"):
        return f"array of {spec['items']['type']}"
    return kind
