"""Recipes that would exhaust the machine are refused in one line before they are expanded or parsed."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run_cli

HEAD = "package:\n  name: tool\n  version: '1.0'\n"


def _laughs(levels: int) -> str:
    """Nested YAML aliases: `levels` levels of nine references each (9**levels values once expanded)."""
    lines = ['  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        earlier, name = chr(96 + i), chr(97 + i)
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{earlier}"] * 9) + "]")
    return "extra:\n" + "\n".join(lines) + "\n"


META = {
    "nested-aliases": HEAD + _laughs(8),
    "3000-nots-in-a-selector": HEAD + "build:\n  number: 0  # [" + "not " * 3000 + "linux]\n",
    "300-nots-in-a-selector": HEAD + "build:\n  number: 0  # [" + "not " * 300 + "linux]\n",
    "30000-plus-terms": HEAD + "build:\n  number: {{ " + " + ".join(["1"] * 30000) + " }}\n",
    "5000-nested-brackets": HEAD + "extra:\n  x: " + "[" * 5000 + "]" * 5000 + "\n",
    "5000-nested-brackets-in-jinja": HEAD + "build:\n  number: {{ " + "[" * 5000 + "]" * 5000 + " }}\n",
    "the-converter-placeholder": HEAD + "about:\n  summary: __condafarm_jinja_99__\n",
    "two-megabytes": HEAD + "about:\n  summary: " + "x" * 2_000_000 + "\n",
}


@pytest.mark.parametrize("case", list(META))
def test_a_recipe_that_costs_too_much_is_refused_in_one_line_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "meta.yaml").write_text(META[case])
    result = run_cli("convert-recipe", str(recipe), "--out", str(tmp_path / "out"), timeout=60)
    assert result.returncode == 8, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "internal error" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_aliases_a_real_recipe_uses_still_convert(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "meta.yaml").write_text(HEAD + _laughs(3) + "build:\n  number: 0  # [" + "not " * 20 + "linux]\n")
    result = run_cli("convert-recipe", str(recipe))
    assert result.returncode == 0, result.stderr
    assert (recipe / "recipe.yaml").is_file()


def test_a_rattler_build_recipe_of_nested_aliases_is_refused_before_rattler_build_reads_it(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "recipe.yaml").write_text(HEAD + "build:\n  noarch: generic\n" + _laughs(8))
    result = run_cli("build", str(recipe), "--no-publish", "--output-dir", str(tmp_path / "out"), timeout=60)
    assert result.returncode == 8, result.stderr
    assert "nested aliases" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
