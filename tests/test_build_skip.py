"""build.skip: a variant whose skip condition is true for the platform is not built (py-rattler-build 0.73 would
build it anyway, making a package with no sources and no script); the rest build as usual."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run_cli

from condafarm.build.skip import is_skipped
from condafarm.errors import BuildError


@pytest.mark.parametrize(
    ("conditions", "platform", "variant", "skipped"),
    [
        (["not win"], "linux-64", {}, "not win"),
        (["not win"], "win-64", {}, None),
        (["win"], "linux-aarch64", {}, None),
        (["osx and arm64"], "osx-arm64", {}, "osx and arm64"),
        (["osx and arm64"], "osx-64", {}, None),
        (["unix and x86_64"], "linux-64", {}, "unix and x86_64"),
        (["${{ target_platform == 'win-64' }}"], "win-64", {}, "${{ target_platform == 'win-64' }}"),
        (["python == '3.10'"], "linux-64", {"python": "3.10"}, "python == '3.10'"),
        (["linux", "win"], "win-64", {}, "win"),
        ([True], "linux-64", {}, "True"),
        ([], "linux-64", {}, None),
    ],
)
def test_skip_conditions_are_evaluated_per_platform_and_variant(
    conditions: list[object], platform: str, variant: dict[str, str], skipped: str | None
) -> None:
    assert is_skipped(conditions, platform, variant) == skipped


@pytest.mark.parametrize("condition", ["unknown_thing", "__import__('os')", "win +"])
def test_a_condition_condafarm_cannot_evaluate_is_a_build_error(condition: str) -> None:
    with pytest.raises(BuildError, match=r"build\.skip condition"):
        is_skipped([condition], "linux-64", {})


def _recipe(folder: Path, name: str, skip: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "recipe.yaml").write_text(
        f'package:\n  name: {name}\n  version: "1.0"\nbuild:\n  skip:\n    - {skip}\n  noarch: generic\n'
        "  script:\n    - echo built\n"
    )
    return folder


def test_a_recipe_skipped_on_this_platform_builds_nothing_and_publishes_nothing(tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    skipped = run_cli("build", str(_recipe(tmp_path / "winonly", "winonly", "not win")), "--to", str(channel))
    assert skipped.returncode == 0, skipped.stderr
    assert "skipping winonly" in skipped.stderr and "build.skip condition 'not win' is true" in skipped.stderr
    assert not channel.exists() or not list(channel.rglob("*.conda"))
    built = run_cli("build", str(_recipe(tmp_path / "notwin", "notwin", "win")), "--to", str(channel))
    assert built.returncode == 0, built.stderr
    assert [p.name for p in channel.rglob("*.conda")] == ["notwin-1.0-h4616a5c_0.conda"]


def test_match_compares_a_variant_value_with_a_version_spec() -> None:
    assert is_skipped(["osx or match(python, '<3.8')"], "linux-64", {"python": "3.7"}) is not None
    assert is_skipped(["osx or match(python, '<3.8')"], "linux-64", {"python": "3.11"}) is None
    assert is_skipped(["match(python, '<3.8')"], "linux-64", {}) is None  # no python variant: nothing matches


PLATFORMS = ("linux-64", "linux-aarch64", "win-64", "win-arm64", "osx-64", "osx-arm64")


def _rendered_truth(names: list[str], platform: str) -> dict[str, bool]:
    """Which of `names` py-rattler-build itself takes as true on `platform` (one `if:` per name)."""
    from rattler_build import RenderConfig, Stage0Recipe, VariantConfig
    from rattler_build.tool_config import PlatformConfig

    run = "".join(f"    - if: {name}\n      then: is-{name}\n" for name in names)
    recipe = Stage0Recipe.from_yaml(
        f"package:\n  name: probe\n  version: '1'\nbuild:\n  noarch: generic\nrequirements:\n  run:\n{run}"
    )
    rendered = recipe.render(VariantConfig(), RenderConfig(platform=PlatformConfig(target_platform=platform)))
    true = set(rendered[0].recipe.to_dict().get("requirements", {}).get("run", []))
    return {name: f"is-{name}" in true for name in names}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_platform_name_means_in_skip_conditions_what_it_means_to_rattler_build(platform: str) -> None:
    from condafarm.build.skip import platform_names

    names = [n for n, v in platform_names(platform).items() if isinstance(v, bool)]
    assert {"win64", "linux64", "osx64", "win32", "linux32", "x86", "x86_64", "arm64", "aarch64"} <= set(names)
    truth = _rendered_truth(names, platform)
    assert {n for n in names if is_skipped([n], platform, {})} == {n for n, true in truth.items() if true}
