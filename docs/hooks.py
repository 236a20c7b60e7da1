"""MkDocs hook: fill the reference pages from the code (`kdedge.reference`) at build time.

A page names what it wants with a marker line, e.g. `<!-- reference: recipe-keys -->`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- reference: ([a-z-]+) -->$", re.MULTILINE)


def _generate(name: str) -> str:
    from kdedge.reference.commands import cli_reference
    from kdedge.reference.recipe_keys import recipe_reference
    from kdedge.reference.schemas import BENCH_SCHEMA, MANIFEST_SCHEMA, schema_reference
    from kdedge.reference.user_errors import troubleshooting_reference

    if name == "troubleshooting":
        sys.path.insert(0, str(ROOT / "tests"))
        try:
            from bad_input_cases import examples
        finally:
            sys.path.remove(str(ROOT / "tests"))
        return troubleshooting_reference(examples())
    generators = {"recipe-keys": recipe_reference, "cli": cli_reference,
                  "manifest-schema": lambda: schema_reference(MANIFEST_SCHEMA),
                  "bench-schema": lambda: schema_reference(BENCH_SCHEMA)}
    if name not in generators:
        raise ValueError(f"unknown reference marker {name!r}; known: {', '.join([*generators, 'troubleshooting'])}")
    return generators[name]()


def on_page_markdown(markdown: str, page, config, files) -> str:
    return MARKER.sub(lambda match: _generate(match[1]), markdown)


def on_files(files, config):
    """The benchmark plots live in `benchmarks/results/`; the pages show them as `results/NAME.png`."""
    from mkdocs.structure.files import File

    for plot in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        files.append(File(f"results/{plot.name}", str(ROOT / "benchmarks"), config["site_dir"],
                          config["use_directory_urls"]))
    return files
