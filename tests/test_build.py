"""`condafarm build` on a local folder channel: real recipes, real rattler-build builds, py-rattler installs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from support import ROOT
from support.builds import RECIPES, make_archive, repodata, run_installed, snapshot
from support.cli import run_cli
from support.installs import install


def build(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("build", *args)


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    """A folder channel that already holds farm-data (build number 1), built by condafarm."""
    folder = tmp_path / "channel"
    result = build(str(RECIPES / "farm-data"), "--to", str(folder), "--build-number=+1")
    assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.slow
def test_same_recipe_twice_with_plus_one_gives_n_and_n_plus_one_and_the_newest_installs_and_runs(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "channel"
    first = build(str(RECIPES / "farm-hello"), "--to", str(folder), "--build-number=+1")
    assert first.returncode == 0, first.stderr
    second = build(str(RECIPES / "farm-hello"), "--to", str(folder), "--build-number=+1")
    assert second.returncode == 0, second.stderr
    records = repodata(folder)
    numbers = sorted(int(str(r["build_number"])) for r in records.values() if r["name"] == "farm-hello")
    assert numbers == [1, 2]
    assert f"{folder.as_uri()}/noarch/farm-hello-1.0-" in second.stdout and "build number 2" in second.stdout
    check = run_cli("check", str(folder))
    assert check.returncode == 0, check.stdout + check.stderr
    assert not list(folder.glob("noarch/.condafarm/build-numbers/*")), "reservations must be released"
    installed = install(folder.as_uri(), tmp_path / "env", "farm-hello")
    assert [(r["name"], r["build_number"]) for r in installed] == [("farm-hello", 2)]
    assert run_installed(tmp_path / "env", "farm-hello") == "hello from farm-hello 1.0"


@pytest.mark.slow
def test_a_dependency_comes_from_the_destination_and_activation_scripts_install(channel: Path, tmp_path: Path) -> None:
    """farm-greet's own test runs it with farm-data from the destination; then py-rattler installs both."""
    greet = build(str(RECIPES / "farm-greet"), "--to", str(channel))
    assert greet.returncode == 0, greet.stderr
    assert "farm-greet 1.0: greetings, render farm" in greet.stderr  # the recipe's test, in the streamed log
    studio = build(str(RECIPES / "farm-studio-env"), "--to", str(channel), "--build-number", "4")
    assert studio.returncode == 0, studio.stderr
    assert "build number 4" in studio.stdout
    prefix = tmp_path / "env"
    names = {r["name"] for r in install(channel.as_uri(), prefix, "farm-greet", "farm-studio-env")}
    assert names == {"farm-greet", "farm-data", "farm-studio-env"}
    assert run_installed(prefix, "farm-greet") == "farm-greet 1.0: greetings, render farm"
    assert (prefix / "etc/conda/activate.d/farm-studio-env.bat").is_file()
    if os.name != "nt":
        script = prefix / "etc/conda/activate.d/farm-studio-env.sh"
        env = {**os.environ, "CONDA_PREFIX": str(prefix)}
        shown = subprocess.run(
            ["sh", "-c", f'. "{script}" && echo "$FARM_STUDIO_ROOT"'], capture_output=True, text=True, env=env
        )
        assert shown.stdout.strip() == f"{prefix}/studio"


def test_dry_run_prints_every_output_and_touches_nothing(channel: Path, tmp_path: Path) -> None:
    before = snapshot(channel)
    result = build(str(RECIPES / "farm-data"), "--to", str(channel), "--build-number=+1", "--dry-run")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("would build farm-data 1.0 build h")
    assert "_2 (number 2) for noarch -> " in line and line.endswith(".conda")
    assert f"{channel.as_uri()}/noarch/farm-data-1.0-h" in line
    assert snapshot(channel) == before


def test_no_publish_leaves_the_packages_in_the_output_folder(channel: Path, tmp_path: Path) -> None:
    before = snapshot(channel)
    out = tmp_path / "out"
    result = build(str(RECIPES / "farm-hello"), "--no-publish", "--output-dir", str(out), "--no-test")
    assert result.returncode == 0, result.stderr
    built = list(out.glob("noarch/farm-hello-1.0-*_0.conda"))
    assert len(built) == 1 and f"built {built[0]}" in result.stdout
    assert snapshot(channel) == before


def test_override_source_builds_from_another_archive_checked_against_its_sha256(channel: Path, tmp_path: Path) -> None:
    archive = tmp_path / "vendor.tar.gz"
    sha = make_archive(archive, "hello from the vendor archive\n")
    args = [str(RECIPES / "farm-data"), "--to", str(channel), "--build-number=+1", "--override-source", str(archive)]
    wrong = build(*args, "--override-source-sha256", "0" * 64)
    assert wrong.returncode == 8 and f"has sha256 {sha}, expected {'0' * 64}" in wrong.stderr
    result = build(*args, "--override-source-sha256", sha)
    assert result.returncode == 0, result.stderr
    installed = install(channel.as_uri(), tmp_path / "env", "farm-data ==1.0 *_2")
    assert [r["build_number"] for r in installed] == [2]
    greeting = tmp_path / "env/share/farm-data/greeting.txt"
    assert greeting.read_text() == "hello from the vendor archive\n"
    assert (RECIPES / "farm-data/recipe.yaml").read_text().count("b9b13700d2562e94") == 1  # recipe untouched


def _recipe(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "recipe"
    folder.mkdir(exist_ok=True)
    (folder / "recipe.yaml").write_text(text)
    return folder


BAD_RECIPES = {
    "invalid YAML": (
        "package:\n  name: broken\n  version: [1.0\nbuild:\n  noarch: generic\n",
        r"recipe.yaml:4: .*Failed to parse YAML",
    ),
    "unknown jinja variable": (
        "package:\n  name: broken\n  version: ${{ no_such_variable }}\nbuild:\n  noarch: generic\n",
        r"recipe.yaml:3: package.version: .*undefined",
    ),
    "unknown key": (
        "package:\n  name: broken\n  version: '1.0'\nbuild:\n  noarch: generic\n  numbr: 3\n",
        r"recipe.yaml:6: build.numbr: .*unknown field 'numbr'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RECIPES))
def test_a_bad_recipe_names_file_line_and_key_and_changes_nothing(case: str, channel: Path, tmp_path: Path) -> None:
    text, pattern = BAD_RECIPES[case]
    before = snapshot(channel)
    result = build(str(_recipe(tmp_path, text)), "--to", str(channel), "--build-number=+1")
    assert result.returncode == 8, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("condafarm: error: ") and "fix the recipe" in error
    assert re.search(pattern, error), error
    assert snapshot(channel) == before


def test_a_missing_recipe_is_a_usage_error(channel: Path, tmp_path: Path) -> None:
    result = build(str(tmp_path / "nowhere"), "--to", str(channel))
    assert result.returncode == 2 and "recipe" in result.stderr and "not found" in result.stderr


def test_a_source_checksum_mismatch_fails_with_the_log_and_changes_nothing(channel: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "farm-data"
    shutil.copytree(RECIPES / "farm-data", recipe)
    text = (recipe / "recipe.yaml").read_text()
    (recipe / "recipe.yaml").write_text(text.replace("b9b13700d2562e94", "c9b13700d2562e94"))
    before = snapshot(channel)
    result = build(str(recipe), "--to", str(channel), "--build-number=+1", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 8
    error = result.stderr.strip().splitlines()[-1]
    assert "building farm-data 1.0 (noarch) failed: sha256 checksum validation failed" in error
    assert "expected: c9b13700d2562e94" in error
    assert "lines of the build log ---" in result.stderr
    assert snapshot(channel) == before
    assert not list(channel.glob("noarch/.condafarm/build-numbers/*")), "the reservation must be released"


def test_a_failing_build_script_keeps_the_build_folder_and_says_how_to_debug_it(channel: Path, tmp_path: Path) -> None:
    recipe = _recipe(
        tmp_path,
        "package:\n  name: farm-broken\n  version: '1.0'\nbuild:\n  noarch: generic\n  script:\n"
        "    - echo about to fail with a clue\n    - exit 3\n",
    )
    before = snapshot(channel)
    result = build(str(recipe), "--to", str(channel), "--output-dir", str(tmp_path / "out"), "-q")
    assert result.returncode == 8
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("condafarm: error: building farm-broken 1.0 (noarch) failed: ")
    tail = lines[lines.index(next(x for x in lines if "lines of the build log" in x)) :]
    assert any("about to fail with a clue" in x for x in tail)
    kept = next(x for x in lines if x.startswith("build folder kept: ")).split(": ", 1)[1]
    assert Path(kept).is_dir() and Path(kept).is_relative_to(tmp_path / "out")
    debug = next(x for x in lines if x.startswith("debug shell there: ")).split(": ", 1)[1]
    script = "build_env.bat" if os.name == "nt" else "build_env.sh"
    assert debug.endswith(script) and (Path(kept) / "work" / script).is_file()
    assert snapshot(channel) == before


def test_not_enough_disk_fails_before_anything_with_the_numbers(channel: Path, tmp_path: Path) -> None:
    before = snapshot(channel)
    out = tmp_path / "out"
    result = build(str(RECIPES / "farm-hello"), "--to", str(channel), "--output-dir", str(out), "--min-free-disk=999T")
    assert result.returncode == 8
    assert "not enough disk space" in result.stderr and "needs at least 999.0 TiB" in result.stderr
    assert f"free in {out}" in result.stderr
    assert not out.exists() and snapshot(channel) == before


@pytest.mark.slow
def test_two_concurrent_builds_with_plus_one_get_distinct_numbers(channel: Path) -> None:
    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent)) or "condafarm"
    args = [exe, "build", str(RECIPES / "farm-hello"), "--to", str(channel), "--build-number=+1", "-q"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    numbers = sorted(int(str(r["build_number"])) for r in repodata(channel).values() if r["name"] == "farm-hello")
    assert numbers == [1, 2]


SAMPLES_RECIPE = ROOT / "tests" / "data" / "samples" / "farm-vendor" / "recipe"


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        (
            "linux-64",
            [
                {"path": "A1", "patches": ["greeting.patch"], "target_directory": "app"},
                {"path": "A2", "target_directory": "plugins"},
            ],
        ),
        ("win-64", [{"path": "A1", "target_directory": "app"}, {"path": "A2", "target_directory": "plugins"}]),
    ],
)
def test_override_replaces_the_sources_rendered_for_the_platform_keeping_target_directory_and_patches(
    tmp_path: Path, platform: str, expected: list[dict[str, object]]
) -> None:
    """The recipe's sources are conditional (`- if: linux then: ...`): the override applies to the ones the
    platform's build uses, in order, as the samples' OverrideSourceArchive1 and 2 do."""
    from condafarm.build.recipe import load_recipe, override_sources, render, rendered_sources

    recipe = SAMPLES_RECIPE / "recipe.yaml"
    archives = [tmp_path / "one.tar.gz", tmp_path / "two.tar.gz"]
    variants = render(load_recipe(recipe), recipe, [], platform)
    sources = override_sources(rendered_sources(variants), archives, None, recipe.parent, platform)
    names = {str(archives[0].resolve()): "A1", str(archives[1].resolve()): "A2"}
    assert [{**s, "path": names[s["path"]]} for s in sources] == expected


def test_an_override_with_nothing_to_replace_on_the_platform_is_refused(tmp_path: Path) -> None:
    """On macOS the recipe has one archive source (the plugins): a second archive, or a folder, is refused."""
    from condafarm.build.recipe import load_recipe, override_sources, render, rendered_sources
    from condafarm.errors import UsageError

    recipe = SAMPLES_RECIPE / "recipe.yaml"
    sources = rendered_sources(render(load_recipe(recipe), recipe, [], "osx-arm64"))
    with pytest.raises(UsageError, match=r"2 override source archive.*osx-arm64 has 1 archive"):
        override_sources(sources, [tmp_path / "a", tmp_path / "b"], None, recipe.parent, "osx-arm64")
    with pytest.raises(UsageError, match=r"no folder \(path\) source to replace"):
        override_sources(sources, [], tmp_path, recipe.parent, "osx-arm64")


def test_override_source_dir_replaces_the_folder_source(tmp_path: Path) -> None:
    from condafarm.build.recipe import override_sources

    recipe_dir = tmp_path / "recipe"
    (recipe_dir / "src").mkdir(parents=True)
    sources = [{"path": "src", "target_directory": "code"}, {"url": "https://example.invalid/a.tgz", "sha256": "0"}]
    result = override_sources(sources, [], tmp_path / "other", recipe_dir, "linux-64")
    assert result == [{"path": str((tmp_path / "other").resolve()), "target_directory": "code"}, sources[1]]


def test_rattler_build_options_map_to_py_rattler_build_settings_or_are_refused() -> None:
    from condafarm.build import parse_tool_args
    from condafarm.errors import UsageError

    options = parse_tool_args(
        "--no-include-recipe --compression-threads 2 --test skip -c conda-forge --channel-priority disabled "
        "--allow-insecure-host h1 --allow-insecure-host h2 --experimental"
    )
    assert options.no_include_recipe and options.experimental and not options.test
    assert options.channels == ("conda-forge",)
    assert options.tool_config == {
        "compression_threads": 2,
        "channel_priority": "disabled",
        "allow_insecure_host": ["h1", "h2"],
    }
    assert parse_tool_args("", fast_build=True).package_format == "conda:min"
    for text, message in [
        ("--build-number 3", "set the job's BuildNumber"),
        ("--skip-existing=all", "none exists to skip"),
        ("--package-format zip", "give conda or tar.bz2"),
        ("--test native-and-emulated", "invalid choice"),
        ("'unclosed", "quote arguments"),
        ("recipe.yaml", "is not an option"),
    ]:
        with pytest.raises(UsageError, match=re.escape(message)):
            parse_tool_args(text)


@pytest.mark.slow
def test_package_name_and_rattler_build_options_shape_the_published_package(tmp_path: Path) -> None:
    """The samples' OverridePackageName, EnableFastBuild-style --package-format and --no-include-recipe."""
    from condafarm import build_recipe, parse_channel
    from condafarm.build import parse_tool_args

    folder = tmp_path / "channel"
    report = build_recipe(
        RECIPES / "farm-hello",
        parse_channel(str(folder)),
        build_number="+1",
        package_name="studio-hello",
        options=parse_tool_args("--package-format tar.bz2 --no-include-recipe"),
    )
    assert [o.name for o in report.outputs] == ["studio-hello"]
    (package,) = report.packages
    assert package.name.startswith("studio-hello-1.0-") and package.name.endswith("_1.tar.bz2")
    with tarfile.open(folder / "noarch" / package.name) as tar:  # the build folder is gone; the channel has it
        names = tar.getnames()
    assert "info/recipe/recipe.yaml" not in names and "bin/farm-hello" in names
    installed = install(folder.as_uri(), tmp_path / "env", "studio-hello")
    assert [(r["name"], r["build_number"]) for r in installed] == [("studio-hello", 1)]


def test_sources_outside_the_recipe_folder_survive_the_staged_copy_of_plus_one_numbering(tmp_path: Path) -> None:
    samples = tmp_path / "conda_recipes"
    archives = samples / "archive_files"
    (archives / "plugin" / "win-64").mkdir(parents=True)
    (archives / "plugin" / "win-64" / "plugin.dll").write_text("win payload")
    sha = make_archive(archives / "farm-outside-1.0.tar.gz", "from outside the recipe folder")
    recipe_dir = samples / "farm-outside" / "recipe"
    recipe_dir.mkdir(parents=True)
    (recipe_dir / "recipe.yaml").write_text(
        "package:\n  name: farm-outside\n  version: '1.0'\nsource:\n"
        f"  - path: ../../archive_files/farm-outside-1.0.tar.gz\n    sha256: {sha}\n    target_directory: data\n"
        "  - if: win\n    then:\n      path: ../../archive_files/plugin/win-64\n      target_directory: plugin\n"
        "build:\n  noarch: generic\n  script:\n"
        '    - mkdir -p "$PREFIX/share" && cp "$SRC_DIR/data/greeting.txt" "$PREFIX/share/farm-outside.txt"\n'
    )
    from condafarm.build.recipe import load_recipe, render, staged_recipe

    recipe = recipe_dir / "recipe.yaml"
    for platform, count in (("linux-64", 1), ("win-64", 2), ("osx-arm64", 1)):
        staged = staged_recipe(load_recipe(recipe), recipe, build_number=7)
        (variant,) = render(load_recipe(staged), staged, [], platform)
        paths = [Path(s["path"]) for s in variant.recipe.to_dict()["source"]]
        assert len(paths) == count and all(p.exists() for p in paths), (platform, paths)
        shutil.rmtree(staged.parent.parent)
    channel = tmp_path / "channel"
    result = build(str(recipe_dir), "--to", str(channel), "--build-number=+1")
    assert result.returncode == 0, result.stderr
    assert [r["build_number"] for r in repodata(channel).values()] == [1]


def test_an_override_folder_replaces_a_folder_source_the_worker_does_not_have(tmp_path: Path) -> None:
    """The samples' plug-in recipes name ../../archive_files/PLUGIN/PLATFORM, which a job does not attach: the
    job's OverrideSourceDir (deadline-cloud.yaml's sourceArchiveDirectory) replaces it, and the build works."""
    from condafarm.build import build_recipe

    recipe_dir = tmp_path / "attached" / "recipe"
    recipe_dir.mkdir(parents=True)
    (recipe_dir / "recipe.yaml").write_text(
        "package:\n  name: farm-plugin\n  version: '1.0'\nsource:\n"
        "  - path: ../../archive_files/farm-plugin-1.0/linux-64\n    target_directory: plugin\n"
        "  - path: ../../archive_files/farm-plugin-1.0.tar.gz\n"
        "build:\n  noarch: generic\n  script:\n"
        '    - mkdir -p "$PREFIX/share" && cp "$SRC_DIR/plugin/plugin.txt" "$PREFIX/share/farm-plugin.txt"\n'
    )
    payload = tmp_path / "session" / "plugin"
    payload.mkdir(parents=True)
    (payload / "plugin.txt").write_text("a plug-in")
    archive = tmp_path / "session" / "farm-plugin-1.0.tar.gz"
    make_archive(archive, "the archive")
    report = build_recipe(
        recipe_dir,
        None,
        publish=False,
        output_dir=tmp_path / "out",
        override_source=[archive],
        override_source_dir=payload,
        target_platform="linux-64",
    )
    assert [p.name for p in report.packages] == ["farm-plugin-1.0-h4616a5c_0.conda"]
