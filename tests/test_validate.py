"""Records every client can read: publish and index refuse metadata py-rattler cannot parse, with the reason."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.cli import run_cli
from support.installs import install
from support.packages import add_info_file, make_package, read_info_file

from condafarm import PackageError, index_channel, parse_channel, read_metadata
from condafarm.channel.publish import publish
from condafarm.conda.package import check_matches

DROP = object()


def rewrite_index(path: Path, **changes: Any) -> Path:
    """Change a real package's info/index.json (a value of DROP removes the key) and rename the file to the
    NAME-VERSION-BUILD the new metadata says, as a broken build tool would have written it."""
    index = json.loads(read_info_file(path, "info/index.json"))
    for key, value in changes.items():
        if value is DROP:
            index.pop(key, None)
        else:
            index[key] = value
    add_info_file(path, "info/index.json", json.dumps(index).encode())
    renamed = path.with_name(f"{index['name']}-{index['version']}-{index['build']}.conda")
    return path.rename(renamed)


def check(path: Path, subdir: str = "noarch") -> dict[str, Any]:
    with open(path, "rb") as f:
        return check_matches(read_metadata(f, path.name), path.name, subdir)


# Each of these, indexed today, gives a repodata.json that py-rattler cannot read in full (`RepoData.from_path`
# fails) and whose package name it cannot load at all (every version of it becomes uninstallable).
UNREADABLE = {
    "version not a version": ({"version": "1..0"}, "field 'version' is '1..0'"),
    "version a number": ({"version": 1.5}, "field 'version' is 1.5"),
    "depends a string": ({"depends": "python >=3.10"}, "field 'depends' is 'python >=3.10'"),
    "depends of numbers": ({"depends": [3]}, "field 'depends' is [3]"),
    "constrains null": ({"constrains": None}, "field 'constrains' is None"),
    "build a number": ({"build": 123}, "field 'build' is 123"),
    "build_number a boolean": ({"build_number": True}, "field 'build_number' is True"),
    "build_number negative": ({"build_number": -1}, "field 'build_number' is -1"),
    "noarch unknown": ({"noarch": "bogus"}, "field 'noarch' is 'bogus'"),
    "timestamp a date": ({"timestamp": "2024-01-01"}, "field 'timestamp' is '2024-01-01'"),
    "license a number": ({"license": 5}, "field 'license' is 5"),
    "legacy_bz2_size a string": ({"legacy_bz2_size": "big"}, "field 'legacy_bz2_size' is 'big'"),
    "legacy_bz2_md5 not hex": ({"legacy_bz2_md5": "not-an-md5"}, "field 'legacy_bz2_md5' is 'not-an-md5'"),
    "attestations_sha256 short": ({"attestations_sha256": "ab" * 16}, "field 'attestations_sha256' is 'abab"),
    "run_exports in index.json": ({"run_exports": {"weak": "tool"}}, "index.json field 'run_exports' cannot"),
    "not a number in JSON": ({"license_family": math.nan}, "field 'license_family' is nan"),
}
# These parse, but py-rattler's solver excludes the package: a spec it cannot parse, a look-alike name.
UNSOLVABLE = {
    "depends with a bad spec": ({"depends": ["python >=>3"]}, "depends entry 'python >=>3' is not a match spec"),
    "constrains with a bad spec": ({"constrains": ["blender ==4.*.x"]}, "constrains entry 'blender ==4.*.x'"),
    "depends on a Cyrillic look-alike": ({"depends": ["t\u043eol >=1"]}, "depends entry 't\u043eol >=1'"),
}


@pytest.mark.parametrize(
    ("changes", "reason"), [*UNREADABLE.values(), *UNSOLVABLE.values()], ids=[*UNREADABLE, *UNSOLVABLE]
)
def test_metadata_clients_cannot_read_is_refused_with_a_one_line_reason(
    tmp_path: Path, changes: dict[str, Any], reason: str
) -> None:
    path = rewrite_index(make_package(tmp_path, "tool", "1.0"), **changes)
    with pytest.raises(PackageError) as info:
        check(path)
    message = str(info.value)
    assert message.startswith(f"{path.name}: ") and reason in message, message
    assert "\n" not in message and " at line " not in message


@pytest.mark.parametrize("name", ["\u212aool", "tool\u017f", "t\u043eol", "to ol"])
def test_names_that_are_not_conda_names_are_refused(tmp_path: Path, name: str) -> None:
    """The Kelvin sign and the long s passed the old case-insensitive check; Cyrillic o (U+043E) looks like o."""
    path = rewrite_index(make_package(tmp_path, "tool", "1.0"), name=name)
    with pytest.raises(PackageError, match="NAME of ASCII letters"):
        check(path)


def test_run_exports_json_clients_cannot_read_is_refused(tmp_path: Path) -> None:
    path = make_package(tmp_path, "libfoo", run_exports={"weak": "libfoo >=1"})
    with pytest.raises(PackageError, match=r"info/run_exports\.json cannot be read by conda clients \(invalid type"):
        check(path)


@pytest.mark.parametrize(
    "changes",
    [
        {"depends": ["numpy 1.21 py39_0", "python 3.10.*", "__glibc >=2.17", "conda-forge::zlib", "libx >=1 *"]},
        {"constrains": ["blender >=4.5,<5"], "track_features": "mkl debug", "timestamp": 1700000000000},
        {"noarch": "python", "license_family": "BSD", "legacy_bz2_size": 0, "legacy_bz2_md5": "AB" * 16},
        {"name": "Tool", "features": "a b", "unknown_field": {"anything": [1]}},
    ],
)
def test_metadata_real_packages_carry_is_accepted(tmp_path: Path, changes: dict[str, Any]) -> None:
    path = rewrite_index(make_package(tmp_path, "tool", "1.0"), **changes)
    assert check(path)["name"] == changes.get("name", "tool")


def _channel_with_one_bad_build(root: Path) -> Path:
    make_package(root, "farmtool", "1.0", 0, script=True)
    bad = rewrite_index(make_package(root, "farmtool", "1.1", 0), depends="farmlib >=2")
    make_package(root, "farmlib", "2.0", 0)
    shutil.rmtree(root / ".staging")
    return bad


@pytest.mark.posix("runs the package's sh script")
@pytest.mark.slow
def test_index_skips_the_bad_build_and_py_rattler_installs_the_good_one(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    bad = _channel_with_one_bad_build(root)
    report = index_channel(parse_channel(str(root)))
    (noarch,) = (s for s in report.subdirs if s.subdir == "noarch")
    assert set(noarch.skipped) == {bad.name}
    assert "field 'depends' is 'farmlib >=2'" in noarch.skipped[bad.name]

    records = install(root.as_uri(), tmp_path / "env", "farmtool")
    assert [(r["name"], r["version"]) for r in records] == [("farmtool", "1.0")]
    out = subprocess.run([str(tmp_path / "env" / "bin" / "farmtool")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "farmtool 1.0 build 0"
    # A reader that parses the whole file at once (py-rattler's `RepoData`) reads every record of the subdir.
    code = (
        "import os, sys, rattler; "
        "data = rattler.RepoData.from_path(sys.argv[1]).into_repo_data(rattler.Channel(sys.argv[2])); "
        "print(sorted(r.file_name for r in data), flush=True); os._exit(0)"
    )
    eager = subprocess.run(
        [sys.executable, "-c", code, str(root / "noarch" / "repodata.json"), root.as_uri()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert eager.stdout.strip() == str(["farmlib-2.0-h0_0.conda", "farmtool-1.0-h0_0.conda"]), eager.stderr


def test_publish_refuses_the_bad_build_exit_6_and_uploads_nothing(tmp_path: Path) -> None:
    good = make_package(tmp_path / "out", "farmtool", "1.0")
    bad = rewrite_index(make_package(tmp_path / "out", "farmtool", "1.1"), depends="farmlib >=2")
    channel = tmp_path / "channel"
    channel.mkdir()
    result = run_cli("publish", str(good), str(bad), "--to", str(channel))
    assert result.returncode == 6, result.stderr
    assert result.stderr.count("\n") == 1
    assert f"{bad.name}: index.json field 'depends' is 'farmlib >=2'" in result.stderr
    assert not (channel / "noarch" / good.name).exists()


def test_old_package_without_subdir_is_published_where_platform_and_arch_say(tmp_path: Path) -> None:
    old = rewrite_index(make_package(tmp_path / "out", "oldtool", "0.9", subdir="linux-64"), subdir=DROP)
    assert "subdir" not in json.loads(read_info_file(old, "info/index.json"))
    channel = parse_channel(str(tmp_path / "channel"))
    publish(channel, [old])
    repodata = json.loads((tmp_path / "channel" / "linux-64" / "repodata.json").read_text())
    assert repodata["packages.conda"][old.name]["subdir"] == "linux-64"


def test_old_package_without_subdir_in_the_wrong_folder_is_skipped_by_index(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    old = rewrite_index(make_package(root, "oldtool", "0.9", subdir="linux-64"), subdir=DROP)
    (root / "win-64").mkdir()
    shutil.copy(old, root / "win-64" / old.name)
    shutil.rmtree(root / ".staging")
    report = index_channel(parse_channel(str(root)))
    skipped = {s.subdir: s.skipped for s in report.subdirs}
    assert skipped["linux-64"] == {}
    assert "built for subdir 'linux-64' but sits in 'win-64'" in skipped["win-64"][old.name]
    repodata = json.loads((root / "linux-64" / "repodata.json").read_text())
    assert repodata["packages.conda"][old.name]["subdir"] == "linux-64"


def test_reading_packages_does_not_import_py_rattler() -> None:
    """py-rattler is imported when the first package is validated, so `condafarm --version` stays fast."""
    code = "import sys, condafarm.conda.package, condafarm.conda.validate; print('rattler' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
