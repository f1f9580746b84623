"""`env export` to conda-lock.yml and pixi.lock, judged by conda-lock's own parser and py-rattler's lockfile
reader, and `env create --lockfile` from every format recreating the environment file for file."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from support.cli import run_cli
from support.environments import folder_channel
from support.packages import make_package

from condafarm import index_channel, parse_channel
from condafarm.env.request.spec import current_platform

HERE = current_platform()
OTHER = "win-64" if not HERE.startswith("win") else "linux-64"


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    """The render packages (noarch) plus `native`, built for this host's platform and for OTHER; OTHER's build
    needs that system's virtual package (`__win` or `__linux`), as real platform builds do."""
    root = folder_channel(tmp_path / "channel")
    make_package(root, "native", "1.0", subdir=HERE, files={"share/native-here.txt": "here\n"})
    make_package(root, "native", "1.0", subdir=OTHER, depends=["__win" if OTHER == "win-64" else "__linux"])
    shutil.rmtree(root / ".staging")
    index_channel(parse_channel(str(root)))
    return root


def create(prefix: Path, cache: Path, *args: str) -> None:
    created = run_cli("env", "create", str(prefix), *args, "--cache-dir", str(cache))
    assert created.returncode == 0, created.stderr


def tree(prefix: Path) -> dict[str, bytes]:
    """Every file of an environment, with its own path written as PREFIX; conda-meta records as the fields that
    say what was installed (the time and requested spec differ between a solve and a lockfile, and a file that
    embeds the prefix has another size and hash at another prefix)."""
    files = {}
    for path in sorted(prefix.rglob("*")):
        relative = path.relative_to(prefix).as_posix()
        if path.is_dir() or relative == "conda-meta/condafarm-env.json":
            continue
        data = path.read_bytes().replace(str(prefix).encode(), b"PREFIX")
        if relative.startswith("conda-meta/") and relative.endswith(".json"):
            record = json.loads(data)
            for entry in record["paths_data"]["paths"]:
                if entry.get("prefix_placeholder"):
                    del entry["sha256_in_prefix"], entry["size_in_bytes"]
            data = json.dumps({k: record.get(k) for k in ("url", "sha256", "md5", "files", "paths_data")}).encode()
        files[relative] = data
    return files


def test_export_writes_lockfiles_their_own_tools_read_and_each_recreates_the_environment(
    channel: Path, tmp_path: Path
) -> None:
    from conda_lock.lockfile import parse_conda_lock_file
    from rattler import LockFile

    cache, original = tmp_path / "cache", tmp_path / "original"
    create(original, cache, "--packages", "render-tool native", "--channels", str(channel))
    out = {name: tmp_path / name for name in ("env.lock.txt", "env.yml", "conda-lock.yml", "pixi.lock")}
    exported = run_cli(
        "env",
        "export",
        str(original),
        "--lockfile",
        str(out["env.lock.txt"]),
        "--yaml",
        str(out["env.yml"]),
        "--conda-lock",
        str(out["conda-lock.yml"]),
        "--pixi-lock",
        str(out["pixi.lock"]),
    )
    assert exported.returncode == 0, exported.stderr
    expected = {
        (path.name, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in [*(channel / "noarch").glob("*.conda"), *(channel / HERE).glob("*.conda")]
    }

    by_conda_lock = parse_conda_lock_file(out["conda-lock.yml"])
    assert {(p.url.rsplit("/", 1)[-1], p.hash.sha256) for p in by_conda_lock.package} == expected
    assert {p.platform for p in by_conda_lock.package} == {HERE}
    assert [c.url for c in by_conda_lock.metadata.channels] == [str(channel)]
    assert by_conda_lock.metadata.custom_metadata == {
        "condafarm_request": "render-tool native",
        "condafarm_priority": "strict",
    }
    assert by_conda_lock.metadata.platforms == [HERE]
    tool = next(p for p in by_conda_lock.package if p.name == "render-tool")
    assert tool.dependencies == {"render-lic": ">=2"} and tool.version == "1.0"

    by_rattler = LockFile.from_path(out["pixi.lock"]).default_environment()
    assert by_rattler is not None
    assert [str(c) for c in by_rattler.channels()] == [str(channel)]
    records = by_rattler.conda_repodata_records()
    assert {(r.file_name, r.sha256.hex()) for r in records[HERE]} == expected

    for name, text in ((n, p.read_text()) for n, p in out.items()):
        assert "# request: render-tool native" in text, name  # every artifact says where it came from
        assert f"# channels: {channel} (priority strict)" in text, name

    want = tree(original)
    for name in ("env.lock.txt", "conda-lock.yml", "pixi.lock"):
        again = tmp_path / f"from-{name}"
        create(again, cache, "--lockfile", str(out[name]))
        assert tree(again) == want, name


def test_export_locks_another_platform_solved_for_that_system(channel: Path, tmp_path: Path) -> None:
    from conda_lock.lockfile import parse_conda_lock_file
    from rattler import LockFile

    cache, original = tmp_path / "cache", tmp_path / "original"
    create(original, cache, "--packages", "render-tool native", "--channels", str(channel))
    conda_lock, pixi_lock = tmp_path / "conda-lock.yml", tmp_path / "pixi.lock"
    exported = run_cli(
        "env",
        "export",
        str(original),
        "--conda-lock",
        str(conda_lock),
        "--pixi-lock",
        str(pixi_lock),
        "--platform",
        OTHER,
        "--cache-dir",
        str(cache),
    )
    assert exported.returncode == 0, exported.stderr
    native = f"{channel.as_uri()}/{OTHER}/native-1.0-h0_0.conda"
    parsed = parse_conda_lock_file(conda_lock)
    assert sorted(parsed.metadata.platforms) == sorted([HERE, OTHER])
    assert native in {p.url for p in parsed.package if p.platform == OTHER}
    records = LockFile.from_path(pixi_lock).default_environment().conda_repodata_records()  # type: ignore[union-attr]
    assert native in {str(r.url) for r in records[OTHER]}
    assert len(records[OTHER]) == len(records[HERE]) == 3

    again = tmp_path / "again"
    create(again, cache, "--lockfile", str(pixi_lock))  # this host's platform out of the two
    assert (again / "share" / "native-here.txt").exists()


def test_lockfiles_that_lock_nothing_usable_are_refused_with_a_way_out(channel: Path, tmp_path: Path) -> None:
    cache, original = tmp_path / "cache", tmp_path / "original"
    create(original, cache, "--packages", "render-tool", "--channels", str(channel))
    conda_lock = tmp_path / "conda-lock.yml"
    assert run_cli("env", "export", str(original), "--conda-lock", str(conda_lock)).returncode == 0
    document = yaml.safe_load(conda_lock.read_text())

    elsewhere = {**document, "metadata": {**document["metadata"], "platforms": ["osx-arm64", "linux-aarch64"]}}
    bad: dict[str, str] = {"elsewhere.yml": yaml.safe_dump(elsewhere)}
    no_hash = json.loads(json.dumps(document))
    del no_hash["package"][0]["hash"]["sha256"]
    bad["no-sha256.yml"] = yaml.safe_dump(no_hash)
    outside = json.loads(json.dumps(document))
    outside["package"][0]["url"] = "../../etc/passwd"
    bad["bad-url.yml"] = yaml.safe_dump(outside)
    bad["pixi.lock"] = "version: 6\nenvironments: {default: {channels: [], packages: {linux-64: [{conda: 7}]}}}\n"
    messages = {
        "elsewhere.yml": f"locks osx-arm64, linux-aarch64, not this host's {HERE}; export it again with "
        f"`condafarm env export --platform {HERE}`",
        "no-sha256.yml": "expected a package URL (CHANNEL/SUBDIR/NAME-VERSION-BUILD.conda) and its sha256",
        "bad-url.yml": "expected a package URL",
        "pixi.lock": "is not a pixi.lock py-rattler can read",
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        result = run_cli("env", "create", str(tmp_path / name) + ".env", "--lockfile", str(tmp_path / name))
        assert result.returncode == 2 and messages[name] in result.stderr, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / (name + ".env")).exists()
