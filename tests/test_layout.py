"""The folder tree is the design: each pipeline stage is a package, and no stage imports a later one."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "kdedge"

# the order data flows in; a module may import its own stage and any stage before it
STAGES = ["data", "teacher", "students", "distill", "export", "bench"]
FOUNDATION = {"errors", "progress", "tracking", "hardware", "ownership"}  # imported by every stage; import no stage themselves
# the orchestration, and the references the docs generate from all of it: may import anything
TOP = {"pipeline", "recipe", "cli", "report", "api", "reference", "__init__", "__main__"}


def layer_of(module: str) -> str:
    """`kdedge.students.sizing` → `students`; `kdedge` itself (its `__init__`) is the top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def rank(layer: str) -> int:
    if layer in FOUNDATION:
        return -1
    if layer in TOP:
        return len(STAGES)
    return STAGES.index(layer)


def kdedge_imports(path: Path) -> set[str]:
    """Every `kdedge...` module that `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in names if name == "kdedge" or name.startswith("kdedge."))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    return ".".join(("kdedge", *path.relative_to(PACKAGE).with_suffix("").parts))


def test_every_module_belongs_to_a_known_layer():
    unknown = [name for name in map(module_name, MODULES) if layer_of(name) not in {*STAGES, *FOUNDATION, *TOP}]
    assert not unknown, f"modules outside the stage packages: {unknown}"


def test_each_stage_package_says_what_it_owns():
    for stage in [*STAGES, "pipeline"]:
        init = PACKAGE / stage / "__init__.py"
        assert init.is_file(), f"{stage}/ is not a package"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{stage}/__init__.py has no docstring"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_later_stage(path):
    own = layer_of(module_name(path))
    upward = [name for name in kdedge_imports(path) if rank(layer_of(name)) > rank(own)]
    assert not upward, f"{module_name(path)} ({own}) imports later stages: {sorted(upward)}"


def test_the_checker_sees_an_upward_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from kdedge.pipeline.compress import compress\n")
    assert kdedge_imports(module) == {"kdedge.pipeline.compress"}
    assert rank(layer_of("kdedge.pipeline.compress")) > rank("data")
