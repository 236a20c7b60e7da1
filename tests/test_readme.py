"""The README as a front door: short, every command in it valid as written (and run as written by
`benchmarks/readme_commands.py`), its install and test lines the ones CI runs, its headline numbers the
ones the benchmark scripts printed."""

import re
import shlex
import sys
from pathlib import Path

import pytest
import typer

from kdedge.cli import app
from kdedge_runtime.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from readme_commands import readme_commands  # noqa: E402

README = ROOT / "README.md"
COMMANDS = readme_commands(README)


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 200


def test_ci_runs_the_readmes_install_and_test_lines():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert COMMANDS[0].startswith("pip install") and COMMANDS[0] in ci
    assert "pytest" in COMMANDS and "pytest" in ci


@pytest.mark.parametrize("command", sorted({c for c in COMMANDS if c.split()[0] in ("kdedge", "kdedge-runtime")}))
def test_every_kdedge_command_in_the_readme_parses(command):
    """Unknown options, missing arguments and wrong types fail here (the commands run in readme_commands.py)."""
    words = shlex.split(command)
    if words[0] == "kdedge":
        group = typer.main.get_command(app)
        name, *rest = words[1:]
        assert name in group.commands, command
        group.commands[name].make_context(name, rest)  # parses every option; raises on a bad one
    else:
        try:
            build_parser().parse_args(words[1:])
        except SystemExit as exit_:
            pytest.fail(f"{command}: argparse exited with {exit_.code}")


def test_the_other_commands_refer_to_what_exists():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for command in COMMANDS:
        words = shlex.split(command)
        if words[:2] == ["pip", "install"]:
            for spec in re.findall(r"\[([a-z,]+)\]", command):
                assert all(extra in extras or extra == "serve" for extra in spec.split(",")), command
        elif words[0] == "python":
            assert (ROOT / words[1]).is_file(), command
        else:
            assert words[0] in ("kdedge", "kdedge-runtime", "pytest", "mkdocs", "ruff"), command


def test_the_headline_table_is_what_the_benchmarks_printed():
    readme = README.read_text()
    bert_base = (ROOT / "benchmarks" / "results" / "latency_bert_base.md").read_text()
    default = (ROOT / "benchmarks" / "results" / "compress_default.md").read_text()
    teacher = float(re.search(r"\| test accuracy \| (0\.\d+) \|", default)[1])
    assert f"teacher's {teacher:.4f}" in readme
    rows = re.findall(r"^\| (BiLSTM|Transformer \(ETD-Impt\)) \| ((?:default|parameters|latency)[^|]*) \| "
                      r"(0\.\d{4}) \| ([\d.]+)% \| ([\d.]+)x \| ([\d.]+)x \|$", readme, flags=re.MULTILINE)
    assert len(rows) == 6
    for kind, chosen_by, accuracy, kept, vs_torch, vs_int8 in rows:
        chosen = chosen_by.split()[0].rstrip(",:")
        name = f"{'bilstm' if kind == 'BiLSTM' else 'transformer'}-30x-bert-base" + (
            "" if chosen == "default" else f"-{chosen}")
        assert re.search(rf"^\| {name} \| .* \| {accuracy} \(", bert_base, flags=re.MULTILINE), name
        assert re.search(rf"^\| {name} \({kind.split()[0].lower()}\) \| \S+ \| 32 \| 128 \| 2 \| .* \| {vs_torch}x \| "
                         rf"{vs_int8}x \|$", bert_base, flags=re.MULTILINE), name
        assert f"{float(accuracy) / teacher:.1%}" == f"{kept}%", name
    machine = re.search(r"^machine: (.*)$", bert_base, flags=re.MULTILINE)[1]
    assert f"machine: {machine}" in readme


def test_every_link_in_the_readme_points_at_a_file():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text()):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_the_own_data_table_is_what_own_data_py_printed():
    readme = README.read_text()
    sizes = (ROOT / "benchmarks" / "results" / "own_data_sizes.md").read_text()
    kept = {(corpus, rows): share for corpus, rows, share, seeds in re.findall(
        r"^\| (tweets|reviews) \| ([\d,]+) \| synthetic transfer text \(default\) \|(?: [^|]* \|){4} "
        r"([\d.]+% ± [\d.]+%) \| [\d.]+x \| (\d+) \|", sizes, flags=re.MULTILINE) if seeds == "3"}
    rows = re.findall(r"^\| ([\d,]+) \| ([\d.]+% ± [\d.]+%) \| ([\d.]+% ± [\d.]+%) \|$", readme, flags=re.MULTILINE)
    assert rows
    for count, tweets, reviews in rows:
        assert kept[("tweets", count)] == tweets and kept[("reviews", count)] == reviews, count
