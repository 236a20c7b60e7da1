"""The documentation's references are generated from the code: a recipe key, CLI option, user error or
manifest field added without appearing in them fails here, and the site builds with `mkdocs build --strict`."""

import argparse
import dataclasses
import json
import re
import subprocess
import sys
import typing
from pathlib import Path

import jsonschema
import typer
from bad_input_cases import examples

from kdedge.cli import app
from kdedge.recipe import Recipe
from kdedge.reference.commands import cli_reference
from kdedge.reference.recipe_keys import recipe_keys, recipe_reference
from kdedge.reference.schemas import MANIFEST_SCHEMA, schema_reference
from kdedge.reference.user_errors import USER_ERRORS, error_sites, source_roots, troubleshooting_reference
from kdedge_runtime.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def leaf_keys(cls: type, prefix: str = "") -> list[str]:
    """Every settable key of the recipe, walked here independently of the generator."""
    keys = []
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        kind = hints[item.name]
        inner = typing.get_args(kind)[0] if typing.get_origin(kind) is tuple and typing.get_args(kind) else None
        if dataclasses.is_dataclass(kind):
            keys += leaf_keys(kind, f"{prefix}{item.name}.")
        elif inner is not None and dataclasses.is_dataclass(inner):
            keys += leaf_keys(inner, f"{prefix}{item.name}[].")
        else:
            keys.append(f"{prefix}{item.name}")
    return keys


def test_every_recipe_key_is_in_the_reference_with_its_meaning():
    page = recipe_reference()
    documented = {key.key: key for key in recipe_keys()}
    for key in leaf_keys(Recipe):
        assert key in documented and f"`{key}`" in page, key
        assert documented[key].meaning, f"{key} has no meaning: add a comment on its field's line"
    assert "| `distill.stages[].losses.soft_logits` | float | `0.0` |" in page
    assert "| `data.encoding` | str | `utf-8` | the data file's text encoding" in page
    # a choice of values stays in its one cell: key, type, default and meaning are four cells
    assert "| `teacher.finetune` | `auto` \\| `always` \\| `never` | `auto` | `auto`: fine-tune when" in page


def test_every_command_and_option_is_in_the_cli_reference():
    page = cli_reference()
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert f"### kdedge {name}" in page
        for param in command.params:
            shown = param.name.upper() if param.param_type_name == "argument" else max(param.opts, key=len)
            assert f"`{shown}`" in page, (name, shown)
            assert param.param_type_name == "argument" or param.help, f"kdedge {name} {shown} has no help"
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, sub in commands.items():
        assert f"### kdedge-runtime {name}" in page
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction):
                assert f"`{max(action.option_strings, key=len) if action.option_strings else action.dest.upper()}`" \
                    in page, (name, action.dest)
                assert action.help, f"kdedge-runtime {name} {action.dest} has no help"


def test_every_user_error_raised_anywhere_is_in_troubleshooting():
    pattern = re.compile(rf"raise ({'|'.join(USER_ERRORS)})\(")
    raised = sum(len(pattern.findall(path.read_text(encoding="utf-8")))
                 for _, root in source_roots() for path in root.rglob("*.py") if "reference" not in path.parts)
    sites = error_sites()
    assert len(sites) == raised > 150
    page = troubleshooting_reference(examples())
    for site in sites:
        assert f"`{site.module}:{site.line}`" in page
    assert "data file &lt;source&gt; does not exist | check the path passed with --data" in page
    for case in examples():
        assert case in page


def test_the_manifest_schema_covers_and_validates_a_real_artifact(artifact, ner_artifact):
    schema = json.loads(MANIFEST_SCHEMA.read_text())
    for folder in (artifact, ner_artifact[1]):
        manifest = json.loads((folder / "kdedge.json").read_text())
        jsonschema.validate(manifest, schema)
        undocumented = set(manifest) - set(schema["properties"])
        assert not undocumented, f"kdedge.json fields missing from manifest_schema.json: {undocumented}"
    page = schema_reference(MANIFEST_SCHEMA)
    assert "| `serving_sha256` | string | yes |" in page and "| `tasks[].output` | string | yes |" in page


def test_the_docs_site_builds_strictly(tmp_path):
    """Broken links, unknown references and pages missing from the navigation fail the build."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1",
                                                                           "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    troubleshooting = (tmp_path / "site" / "reference" / "troubleshooting" / "index.html").read_text()
    assert "did you mean" in troubleshooting
    assert (tmp_path / "site" / "results" / "frontier_sentiment.png").is_file()
