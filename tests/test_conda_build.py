"""conda-build recipes (meta.yaml): converted to rattler-build recipes, built, installed; what cannot be is refused."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.builds import repodata, run_installed, snapshot, write_meta_recipe
from support.cli import run_cli
from support.installs import install


@pytest.fixture
def meta_recipe(tmp_path: Path) -> Path:
    """A conda-build recipe folder: meta.yaml with Jinja and selectors, build.sh, bld.bat and its source archive."""
    return write_meta_recipe(tmp_path / "farm-meta")


def cli(*args: str, tmp: Path) -> Any:
    """condafarm with its temp folder (where converted copies go) inside the test's."""
    tmp.mkdir(exist_ok=True)
    return run_cli(*args, env={**os.environ, "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)})


def write_meta(tmp_path: Path, text: str, **files: str) -> Path:
    folder = tmp_path / "recipe"
    folder.mkdir(exist_ok=True)
    (folder / "meta.yaml").write_text(text)
    for name, content in files.items():
        (folder / name).write_text(content)
    return folder


def converted(folder: Path, tmp_path: Path) -> dict[str, Any]:
    result = cli("convert-recipe", str(folder), "--out", str(tmp_path / "converted"), tmp=tmp_path / "tmp")
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load((tmp_path / "converted" / "recipe.yaml").read_text()))


def rendered(recipe: Path, platform: str, variants: list[Path] | None = None) -> dict[str, Any]:
    """The recipe as rattler-build renders it for `platform` (with `variants` files), its variant under
    `"variant"`."""
    from condafarm.build.recipe import load_recipe, render

    (first,) = render(load_recipe(recipe), recipe, variants or [], platform)
    return {**first.recipe.to_dict(), "variant": dict(first.variant)}


@pytest.mark.slow
def test_a_meta_yaml_recipe_builds_with_plus_one_numbering_and_installs_and_runs(
    meta_recipe: Path, tmp_path: Path
) -> None:
    channel = tmp_path / "channel"
    before = (meta_recipe / "meta.yaml").read_text()
    first = cli("build", str(meta_recipe), "--to", str(channel), "--build-number=+1", tmp=tmp_path / "tmp")
    assert first.returncode == 0, first.stderr
    assert re.search(r"meta\.yaml is a conda-build recipe: building .*recipe\.yaml, converted from it", first.stderr)
    assert "hello from farm-meta 1.2 on linux: greetings from the archive" in first.stderr  # the recipe's test
    second = cli(
        "build", str(meta_recipe / "meta.yaml"), "--to", str(channel), "--build-number=+1", tmp=tmp_path / "tmp"
    )
    assert second.returncode == 0, second.stderr
    records = [r for r in repodata(channel).values() if r["name"] == "farm-meta"]
    assert sorted(int(str(r["build_number"])) for r in records) == [1, 2]
    assert {r["version"] for r in records} == {"1.2"}
    assert (meta_recipe / "meta.yaml").read_text() == before and not (meta_recipe / "recipe.yaml").exists()
    assert len(list((tmp_path / "tmp" / "condafarm-converted").iterdir())) == 1, "one converted copy, reused"
    prefix = tmp_path / "env"
    installed = install(channel.as_uri(), prefix, "farm-meta")
    assert [(r["name"], r["build_number"]) for r in installed] == [("farm-meta", 2)]
    if os.name != "nt":
        assert run_installed(prefix, "farm-meta") == "hello from farm-meta 1.2 on linux: greetings from the archive"


def test_the_converted_recipe_has_context_conditions_and_rattler_build_sections(
    meta_recipe: Path, tmp_path: Path
) -> None:
    recipe = converted(meta_recipe, tmp_path)
    assert list(recipe) == ["context", "package", "source", "build", "tests", "about"]
    assert recipe["context"] == {
        "name": "farm-meta",
        "version": "1.2",
        "greeting": "${{ env.get('FARM_META_GREETING', default='hello') }}",
    }
    assert recipe["package"] == {"name": "${{ name }}", "version": "${{ version }}"}
    sha = hashlib.sha256((meta_recipe / "farm-meta-1.2.tar.gz").read_bytes()).hexdigest()
    assert recipe["source"] == [
        {"path": "${{ name }}-${{ version }}.tar.gz", "sha256": sha, "target_directory": "data"}
    ]
    assert recipe["build"]["script"] == {
        "env": {
            "FARM_META_GREETING": "${{ greeting }}",
            "FARM_META_PLATFORM": "${{ 'macos' if osx else 'windows' if win else 'linux' if linux }}",
        },
        "file": "${{ 'bld.bat' if win else 'build.sh' }}",
    }
    assert recipe["tests"] == [{"script": ["farm-meta", {"if": "linux", "then": 'farm-meta | grep "on linux"'}]}]
    assert recipe["about"]["homepage"] == "https://example.com/farm-meta"
    assert recipe["about"]["summary"] == "${{ 'farm-meta for Windows' if win else 'farm-meta for Linux' if linux }}"
    copied = tmp_path / "converted"
    assert {p.name for p in copied.iterdir()} >= {"build.sh", "bld.bat", "farm-meta-1.2.tar.gz", "recipe.yaml"}
    windows = rendered(copied / "recipe.yaml", "win-64")
    assert windows["about"]["summary"] == "farm-meta for Windows"
    assert windows["build"]["script"]["file"] == "bld.bat"
    assert windows["build"]["script"]["env"]["FARM_META_PLATFORM"] == "windows"
    assert rendered(copied / "recipe.yaml", "linux-64")["build"]["script"]["file"] == "build.sh"


SAMPLES_STYLE = """\
{% set name = "farmapp" %}
{% set major = "2025" %}
{% set version = major + "." + "3" %}

package:
  name: {{ name }}
  version: {{ version }}

source:
  - url: https://example.com/farmapp-{{ version }}-linux.tar.gz  # [linux]
    sha256: 1111111111111111111111111111111111111111111111111111111111111111  # [linux]
    url: archive_files/Farmapp_{{ version.replace(".", "_") }}_Windows.zip  # [win64]
    sha256: 2222222222222222222222222222222222222222222222222222222222222222  # [win64]
    folder: farmapp
    patches:
      - fix-paths.patch  # [linux]

build:
  skip: true  # [osx or py<38]
  number: 0
  binary_relocation: False
  detect_binary_files_with_prefix: False
  missing_dso_whitelist:
    - "**"
  overlinking_ignore_patterns:
    - "**"
  run_exports:
    - {{ pin_subpackage(name, max_pin="x.x") }}

requirements:
  build:
    - patchelf  # [linux]
  run:
    - jsonschema ==4.17.*
    - pywin32  # [win]

test:
  imports:
    - farmapp
  requires:
    - pip
  commands:
    - farmapp --help

about:
  home: https://example.com
  dev_url: https://example.com/src
  license: LicenseRef-Farmapp
  summary: A DCC application, repackaged
"""


def test_per_platform_sources_scripts_and_build_options_map_to_their_rattler_build_places(tmp_path: Path) -> None:
    folder = write_meta(tmp_path, SAMPLES_STYLE, **{"bld.bat": "echo win", "build.sh": "echo unix"})
    recipe = converted(folder, tmp_path)
    assert recipe["context"]["version"] == "${{ major + '.' + '3' }}"
    common = {"target_directory": "farmapp"}
    assert recipe["source"] == [
        {
            "if": "linux",
            "then": {
                "url": "https://example.com/farmapp-${{ version }}-linux.tar.gz",
                "sha256": "1" * 64,
                **common,
                "patches": [{"if": "linux", "then": "fix-paths.patch"}],
            },
        },
        {
            "if": "win64",
            "then": {
                "path": "archive_files/Farmapp_${{ version | replace('.', '_') }}_Windows.zip",
                "sha256": "2" * 64,
                **common,
                "patches": [{"if": "linux", "then": "fix-paths.patch"}],
            },
        },
    ]
    build = recipe["build"]
    assert build["skip"] == ["osx or match(python, '<3.8')"]
    assert build["dynamic_linking"] == {"binary_relocation": False, "missing_dso_allowlist": ["**"]}
    assert build["prefix_detection"] == {"ignore_binary_files": True}
    assert build["script"] == [{"if": "win", "then": "bld.bat", "else": "build.sh"}]
    assert build["merge_build_and_host_envs"] is True  # no host: conda-build's one environment
    assert recipe["requirements"] == {
        "run_exports": ["${{ pin_subpackage(name, upper_bound='x.x') }}"],
        "build": [{"if": "linux", "then": "patchelf"}],
        "run": ["jsonschema 4.17.*", {"if": "win", "then": "pywin32"}],
    }
    assert recipe["tests"] == [
        {"python": {"imports": ["farmapp"], "pip_check": False}},
        {"script": ["farmapp --help"], "requirements": {"run": ["pip"]}},
    ]
    assert recipe["about"] == {
        "homepage": "https://example.com",
        "repository": "https://example.com/src",
        "license": "LicenseRef-Farmapp",
        "summary": "A DCC application, repackaged",
    }
    text = (tmp_path / "converted" / "recipe.yaml").read_text()
    assert "# meta.yaml:25: build.overlinking_ignore_patterns dropped" in text
    assert "# meta.yaml:10: a source url without a scheme is a file" in text
    (tmp_path / "converted" / "fix-paths.patch").write_text("")
    linux = rendered(tmp_path / "converted" / "recipe.yaml", "linux-64")
    assert [s.get("url") for s in linux["source"]] == ["https://example.com/farmapp-2025.3-linux.tar.gz"]
    windows = rendered(tmp_path / "converted" / "recipe.yaml", "win-64")
    assert [s.get("path") for s in windows["source"]] == ["archive_files/Farmapp_2025_3_Windows.zip"]


def test_run_test_files_and_conda_build_config_convert_too(tmp_path: Path) -> None:
    folder = write_meta(
        tmp_path,
        "package:\n  name: farm-vars\n  version: '1.0'\nrequirements:\n  host:\n    - python\n"
        '    - farm-extra  # [python == "3.10"]\n',  # a variant key of conda_build_config.yaml as a selector
        **{
            "run_test.sh": "true",
            "run_test.py": "print('ok')",
            "conda_build_config.yaml": "python:\n  - 3.10  # [linux]\n  - 3.11  # [win]\n"
            "pin_run_as_build:\n  python: x.x\n",
        },
    )
    recipe = converted(folder, tmp_path)
    assert recipe["tests"] == [
        {"if": "unix", "then": {"script": "run_test.sh"}},
        {"script": {"interpreter": "python", "file": "run_test.py"}, "requirements": {"run": ["python"]}},
    ]
    assert recipe["requirements"]["host"] == ["python", {"if": "python == '3.10'", "then": "farm-extra"}]
    variants = yaml.safe_load((tmp_path / "converted" / "variants.yaml").read_text())
    assert variants == {"python": [{"if": "linux", "then": "3.10"}, {"if": "win", "then": "3.11"}]}
    # what rattler-build makes of it: each platform's python, the variant selector, the unix-only test
    files = [tmp_path / "converted" / "variants.yaml"]
    linux = rendered(tmp_path / "converted" / "recipe.yaml", "linux-64", files)
    assert linux["variant"]["python"] == "3.10" and linux["requirements"]["host"] == ["python", "farm-extra"]
    assert linux["tests"][0] == {"script": "run_test.sh"}
    windows = rendered(tmp_path / "converted" / "recipe.yaml", "win-64", files)
    assert windows["variant"]["python"] == "3.11" and windows["requirements"]["host"] == ["python"]
    assert windows["tests"] == [
        {"script": {"interpreter": "python", "file": "run_test.py"}, "requirements": {"run": ["python"]}}
    ]


REFUSED = {
    "outputs": ("package:\n  name: a\n  version: '1'\noutputs:\n  - name: b\n", 4, r"outputs: \(several packages"),
    "jinja if": ("{% if win %}\npackage:\n  name: a\n{% endif %}\n", 1, r"Jinja statements other than \{% set %\}"),
    "unknown variable": ("package:\n  name: a\n  version: {{ versoin }}\n", 3, r"unknown Jinja variable `versoin`"),
    "unknown function": (
        "{% set data = load_setup_py_data() %}\npackage:\n  name: a\n",
        1,
        r"Jinja function `load_setup_py_data\(\)` cannot be converted",
    ),
    "unknown selector": ("package:\n  name: a  # [cuda]\n", 2, r"unknown selector variable `cuda`"),
    "unknown build key": (
        "package:\n  name: a\n  version: '1'\nbuild:\n  number: 0\n  osx_is_app: true\n",
        6,
        r"build\.osx_is_app cannot be converted",
    ),
    "script_env that is not a name": (
        "package:\n  name: a\n  version: '1'\nbuild:\n  script: echo a\n  script_env:\n"
        "    - \"A', default=B) or ('\"\n",
        7,
        r"build\.script_env names .* which is not a variable name",
    ),
    "selector in a block": (
        "package:\n  name: a\nbuild:\n  script: |\n    echo a\n    echo b  # [win]\n",
        6,
        r"a selector inside a multi-line string",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_cannot_be_converted_is_refused_naming_the_line(case: str, tmp_path: Path) -> None:
    text, line, message = REFUSED[case]
    folder = write_meta(tmp_path, text)
    result = cli("convert-recipe", str(folder), tmp=tmp_path / "tmp")
    assert result.returncode == 8, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"condafarm: error: {folder / 'meta.yaml'}:{line}: "), error
    assert re.search(message, error), error
    assert error.endswith("; change that, or write a recipe.yaml beside it by hand (built instead)")
    assert not (folder / "recipe.yaml").exists()


def test_build_refuses_an_unconvertible_meta_yaml_and_changes_nothing(meta_recipe: Path, tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    assert (
        cli("build", str(meta_recipe), "--to", str(channel), "--build-number=+1", tmp=tmp_path / "tmp").returncode == 0
    )
    before = snapshot(channel)
    text = (meta_recipe / "meta.yaml").read_text()
    (meta_recipe / "meta.yaml").write_text(text + "outputs:\n  - name: farm-meta-extra\n")
    result = cli("build", str(meta_recipe), "--to", str(channel), "--build-number=+1", tmp=tmp_path / "tmp")
    assert result.returncode == 8
    line = len(text.splitlines()) + 1
    assert f"meta.yaml:{line}: outputs:" in result.stderr.strip().splitlines()[-1]
    assert snapshot(channel) == before


def test_convert_recipe_writes_beside_the_meta_yaml_and_replaces_only_with_force(
    meta_recipe: Path, tmp_path: Path
) -> None:
    first = cli("convert-recipe", str(meta_recipe), tmp=tmp_path / "tmp")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"wrote {meta_recipe / 'recipe.yaml'}"
    again = cli("convert-recipe", str(meta_recipe / "meta.yaml"), tmp=tmp_path / "tmp")
    assert again.returncode == 2 and "exists; give another --out folder, or --force" in again.stderr
    (meta_recipe / "recipe.yaml").write_text("edited by hand\n")
    forced = cli("convert-recipe", str(meta_recipe), "--force", tmp=tmp_path / "tmp")
    assert forced.returncode == 0, forced.stderr
    assert "${{ name }}" in (meta_recipe / "recipe.yaml").read_text()
    # the written recipe.yaml is what `build` takes from then on (the meta.yaml is no longer converted)
    dry = cli("build", str(meta_recipe), "--to", str(tmp_path / "channel"), "--dry-run", tmp=tmp_path / "tmp")
    assert dry.returncode == 0, dry.stderr
    assert "would build farm-meta 1.2" in dry.stdout and "conda-build recipe" not in dry.stderr


def test_a_missing_meta_yaml_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("convert-recipe", str(tmp_path), tmp=tmp_path / "tmp")
    assert result.returncode == 2 and "no meta.yaml in" in result.stderr


TRANSLATED = {
    "name[0]": "name[0]",
    'version.replace(".", "_")': "version | replace('.', '_')",
    'version.split(".")[0]': "(version | split('.'))[0]",
    '(name + "-x").upper()': "(name + '-x') | upper",
    "name ~ version": "name ~ version",
    'environ["FARM_ROOT"]': "env.get('FARM_ROOT')",
    'os.environ.get("FARM_ROOT", "/farm")': "env.get('FARM_ROOT', default='/farm')",
    'compiler("c")': "compiler('c')",
    'pin_compatible("numpy", max_pin="x.x")': "pin_compatible('numpy', upper_bound='x.x')",
    '"a" if name is defined else "b"': "'a' if (name is defined) else 'b'",
}
SELECTORS = {
    "not win64": "not win64",
    "linux and x86_64": "linux and x86_64",
    "(py<38 or py>=312) and linux": "(match(python, '<3.8') or match(python, '>=3.12')) and linux",
    "py!=310": "not match(python, '3.10.*')",
    "py27 or py3k": "match(python, '2.7.*') or match(python, '>=3')",
    'environ.get("FARM") == "1"': "env.get('FARM', default='') == '1'",
}


def test_jinja_expressions_and_selectors_become_minijinja() -> None:
    from condafarm.build.conda_build.jinja import preprocess, translate, translate_selector

    for given, wanted in TRANSLATED.items():
        assert translate(given, ["name", "version"], 1) == wanted, given
    for given, wanted in SELECTORS.items():
        assert translate_selector(given, [], 1) == wanted, given
    template = preprocess(
        '{% set sha = "aaa" %}  # [linux]\n{% set sha = "bbb" %}  # [win]\n{% set v = "1" %}\n'
        "package:\n  name: x  # [unix]\n"
    )
    assert template.context == {"sha": "${{ 'bbb' if win else ('aaa' if linux else '') }}", "v": "1"}
    assert template.selectors == {5: "unix"}


#: What conda-build's selector names mean on the platforms condafarm builds most (conda-build's `ns_cfg`).
CONDA_BUILD_TRUE = {
    "linux-64": {"linux", "linux64", "unix", "x86", "x86_64"},
    "win-64": {"win", "win64", "x86", "x86_64"},
    "osx-arm64": {"osx", "unix", "arm64"},
}
SELECTOR_NAMES = ("linux", "win", "osx", "unix", "linux64", "win64", "linux32", "win32", "x86", "x86_64", "arm64")


def rendered_variants(recipe: Path, platform: str) -> list[dict[str, Any]]:
    """The recipe's variants as rattler-build renders them for `platform`, less those condafarm skips."""
    from condafarm.build.recipe import load_recipe, render

    return [dict(v.recipe.to_dict()) for v in render(load_recipe(recipe), recipe, [], platform)]


@pytest.mark.parametrize("platform", sorted(CONDA_BUILD_TRUE))
def test_conda_build_selector_names_mean_what_they_mean_to_conda_build(platform: str, tmp_path: Path) -> None:
    lines = "".join(f"    - is-{name}  # [{name}]\n" for name in (*SELECTOR_NAMES, "aarch64", "arm"))
    folder = write_meta(tmp_path, f"package:\n  name: sel\n  version: '1'\nrequirements:\n  run:\n{lines}")
    converted(folder, tmp_path)
    run = rendered_variants(tmp_path / "converted" / "recipe.yaml", platform)[0]["requirements"]["run"]
    assert {r.removeprefix("is-") for r in run} == CONDA_BUILD_TRUE[platform]


def test_skip_under_a_conda_build_platform_selector_skips_exactly_there(tmp_path: Path) -> None:
    folder = write_meta(
        tmp_path,
        "package:\n  name: winonly\n  version: '1'\nbuild:\n  skip: true  # [not win64]\n"
        "  skip: true  # [x86 and osx]\n  script: echo built\n",
    )
    converted(folder, tmp_path)
    recipe = tmp_path / "converted" / "recipe.yaml"
    assert [len(rendered_variants(recipe, p)) for p in ("linux-64", "win-64", "osx-arm64", "osx-64")] == [0, 1, 0, 0]
    built = cli("build", str(folder), "--no-publish", "--output-dir", str(tmp_path / "out"), tmp=tmp_path / "tmp")
    assert built.returncode == 0, built.stderr
    assert "build.skip condition" in built.stderr and not list((tmp_path / "out").rglob("*.conda"))


COMMON_JINJA = """\
{% set name = "farm-jinja" %}
{% set version = "4.2.1" %}
{% set major_minor = ".".join(version.split(".")[:2]) %}
{% set tag = "v{}".format(version.replace(".", "_")) %}
{% set title = name.replace("-", " ").title() %}
{% set arch = "x64" %}  # [win64]
{% set arch = "arm64" %}  # [osx]
{% set arch = "x86_64" %}  # [linux]

package:
  name: {{ name }}
  version: {{ version }}

build:
  noarch: generic
  script:
    - mkdir -p $PREFIX/share  # [unix]
    - echo {{ "%s-%s" % (name, version) }} > $PREFIX/share/farm-jinja.txt  # [unix]

about:
  summary: {{ title }} {{ major_minor }} {{ tag }} {{ version.split(".")[0] }} {{ name | capitalize }}
  description: {{ arch.upper() }} {{ version[:3] }} {{ version.startswith("4") }} {{ version.endswith("9") }}
  license: MIT
"""


def test_common_conda_build_jinja_converts_or_is_evaluated_as_conda_build_would(tmp_path: Path) -> None:
    folder = write_meta(tmp_path, COMMON_JINJA)
    recipe = converted(folder, tmp_path)
    context = recipe["context"]
    assert context["major_minor"] == "${{ (version | split('.'))[:2] | join('.') }}"
    assert (context["tag"], context["title"]) == ("v4_2_1", "Farm Jinja")  # no minijinja equivalent: their values
    file = tmp_path / "converted" / "recipe.yaml"
    for platform, arch in (("linux-64", "X86_64"), ("win-64", "X64"), ("osx-arm64", "ARM64")):
        about = rendered_variants(file, platform)[0]["about"]
        assert about["summary"] == "Farm Jinja 4.2 v4_2_1 4 Farm-jinja", platform
        assert about["description"] == f"{arch} 4.2 true false", platform
    out = tmp_path / "out"
    built = cli("build", str(folder), "--no-publish", "--output-dir", str(out), tmp=tmp_path / "tmp")
    assert built.returncode == 0, built.stderr
    assert [p.name for p in out.rglob("*.conda")] == ["farm-jinja-4.2.1-h4616a5c_0.conda"]


@pytest.mark.parametrize(
    "expression",
    ['"x".join(["a" * 60000] * 60000).title()', '"{0.__class__}".format(name)', "name.__class__", '"%999999999d" % 1'],
)
def test_jinja_that_would_run_code_or_exhaust_memory_is_refused(expression: str, tmp_path: Path) -> None:
    folder = write_meta(tmp_path, f'{{% set name = "a" %}}\n{{% set x = {expression} %}}\npackage:\n  name: a\n')
    result = cli("convert-recipe", str(folder), tmp=tmp_path / "tmp")
    assert result.returncode == 8 and f"{folder / 'meta.yaml'}:2: " in result.stderr, result.stderr


#: `{% set %}` values that are small each but, printed or walked whole, would take gigabytes or hours.
NESTED_VALUES = {
    "a long string many times, printed": ('"a" * 60000', "[s] * 60000", "l | string"),
    "a long string many times, joined to text": ('"a" * 60000', "[s] * 60000", "l ~ 'b'"),
    "lists of lists, joined": ("[[]] * 60000", "[s] * 60000", '"-".join(l)'),
}


@pytest.mark.posix("limits the converter's memory with setrlimit")
@pytest.mark.parametrize("sets", NESTED_VALUES.values(), ids=list(NESTED_VALUES))
def test_jinja_values_nested_in_lists_are_bounded_in_size(sets: tuple[str, str, str], tmp_path: Path) -> None:
    import resource
    import shutil
    import subprocess
    import sys

    names = ("s", "l", "x")
    text = "".join(f"{{% set {n} = {e} %}}\n" for n, e in zip(names, sets, strict=True))
    folder = write_meta(tmp_path, text + "package:\n  name: a\n  version: 1\n")
    limit = 2 * 1024**3  # the old evaluator made a 3.6 GB string here

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    exe = shutil.which("condafarm", path=str(Path(sys.executable).parent)) or "condafarm"
    args = [exe, "convert-recipe", str(folder), "--out", str(tmp_path / "out")]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, preexec_fn=limited, check=False)
    # converted (the value left to minijinja) or refused naming the line: never an internal error or a hang
    assert result.returncode in (0, 8) and "internal error" not in result.stderr, result.stderr


def test_jinja_numbers_multiplied_line_after_line_stay_bounded(tmp_path: Path) -> None:
    lines = ["{% set n0 = 99999999999999999999 %}"]
    lines += [f"{{% set n{i} = {' * '.join([f'n{i - 1}'] * 8)} %}}" for i in range(1, 10)]  # digits x8 a line
    folder = write_meta(tmp_path, "\n".join(lines) + "\npackage:\n  name: a\n  version: 1\n")
    args = ("convert-recipe", str(folder), "--out", str(tmp_path / "out"))
    result = run_cli(*args, env={**os.environ, "TMPDIR": str(tmp_path)}, timeout=60)
    assert result.returncode == 0, result.stderr  # the products are left to minijinja, not computed here


SOURCES_AND_TESTS = """\
{% set version = "2025" %}
package:
  name: farm-five
  version: {{ version }}
source:
  url: https://example.invalid/replaced-by-the-next-source-key.tar.gz
source:
  - if: win
    then:
      path: payload-win
    else:
      path: payload-unix
  - path: extra  # [linux64]
    folder: extra
build:
  noarch: generic
requirements:
  run_constrained:
    - maya =={{ version }}.*
test:
  script: run_farm_test.sh
"""


def test_duplicate_source_keys_conditional_source_items_test_scripts_and_glob_pins_convert(tmp_path: Path) -> None:
    folder = write_meta(
        tmp_path,
        SOURCES_AND_TESTS,
        **{
            "build.sh": 'mkdir -p "$PREFIX/share" && cp -r "$SRC_DIR"/. "$PREFIX/share/farm-five"\n',
            "run_farm_test.sh": 'test -f "$PREFIX/share/farm-five/unix.txt"\n',
        },
    )
    for name in ("payload-win", "payload-unix", "extra"):
        (folder / name).mkdir()
        (folder / name / f"{name.removeprefix('payload-')}.txt").write_text(name)
    converted(folder, tmp_path)
    file = tmp_path / "converted" / "recipe.yaml"
    wanted = {
        "linux-64": [("payload-unix", None), ("extra", "extra")],
        "win-64": [("payload-win", None)],
        "osx-arm64": [("payload-unix", None)],
    }
    for platform, sources in wanted.items():
        recipe = rendered_variants(file, platform)[0]
        got = [(Path(s["path"]).name, s.get("target_directory")) for s in recipe["source"]]
        assert got == sources, platform
        assert recipe["requirements"]["run_constraints"] == ["maya 2025.*"], platform
        wanted_tests = None if platform == "win-64" else [{"script": "run_farm_test.sh"}]
        assert recipe.get("tests") == wanted_tests, platform
    out = tmp_path / "out"
    built = cli("build", str(folder), "--no-publish", "--output-dir", str(out), tmp=tmp_path / "tmp")
    assert built.returncode == 0, built.stderr
    assert "run_farm_test.sh" in built.stderr  # the test script ran against the built package
    assert [p.name for p in out.rglob("*.conda")] == ["farm-five-2025-h4616a5c_0.conda"]


def _render_probe(tmp_path: Path, context: dict[str, str], host: list[str], platform: str, python: str) -> Any:
    """A recipe holding `context` and `host` requirements, rendered by rattler-build for `platform` and one
    `python` variant."""
    recipe = tmp_path / f"probe-{len(list(tmp_path.glob('probe-*')))}" / "recipe.yaml"
    recipe.parent.mkdir()
    text = {
        "context": {"name": "farm", "version": "1.2.3", **context},
        "package": {"name": "farm", "version": "1.0"},
        "requirements": {"host": ["python", *host]},
    }
    recipe.write_text(yaml.safe_dump(text, sort_keys=False))
    variants = recipe.parent / "variants.yaml"
    variants.write_text(yaml.safe_dump({"python": [python]}))
    return rendered(recipe, platform, [variants])


def test_translated_jinja_and_selectors_mean_in_rattler_build_what_they_meant_in_conda_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The golden texts above, rendered: each expression gives what conda-build's Jinja gives, and each selector
    keeps a requirement exactly where conda-build's selector evaluation keeps it (per platform and python)."""
    import jinja2

    from condafarm.build.conda_build.jinja import translate, translate_selector

    monkeypatch.setenv("FARM_ROOT", "/mnt/farm")
    monkeypatch.setenv("FARM", "1")
    # compiler() and pin_compatible() are not values: rattler-build resolves them in requirements
    valued = [g for g in TRANSLATED if not g.startswith(("compiler", "pin_compatible"))]
    context = {f"t{i}": "${{ " + translate(g, ["name", "version"], 1) + " }}" for i, g in enumerate(valued)}
    probe = _render_probe(tmp_path, context, [], "linux-64", "3.10")
    for i, given in enumerate(valued):
        wanted = jinja2.Environment().from_string("{{ " + given + " }}")
        assert probe["context"][f"t{i}"] == wanted.render(name="farm", version="1.2.3", environ=os.environ, os=os)

    host = [{"if": translate_selector(s, [], 1), "then": f"sel{i}"} for i, s in enumerate(SELECTORS)]
    for platform in ("linux-64", "win-64", "osx-arm64"):
        for python in ("2.7", "3.7", "3.10", "3.12"):
            kept = _render_probe(tmp_path, {}, host, platform, python)["requirements"]["host"]
            py = int(python.replace(".", ""))
            namespace = {
                "linux": platform.startswith("linux"),
                "win": platform.startswith("win"),
                "osx": platform.startswith("osx"),
                "unix": not platform.startswith("win"),
                "win64": platform == "win-64",
                "x86_64": platform.endswith("-64"),
                "py": py,
                "py27": py == 27,
                "py3k": py >= 30,
                "environ": os.environ,
            }
            for i, selector in enumerate(SELECTORS):
                meant = bool(eval(selector, {}, namespace))  # conda-build evaluates selectors as Python
                assert (f"sel{i}" in kept) == meant, (selector, platform, python)
