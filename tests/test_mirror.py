"""`condafarm mirror`: closures solved per platform from an upstream (a folder, an HTTP server on 127.0.0.1 with
and without shards), copied into folder and moto channels with publish's guarantees, kept current, killed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.cli import run_cli
from support.dying import DIED
from support.environments import env_with
from support.packages import make_package
from support.s3 import S3Endpoint, upload_dir
from support.upstream import LINUX_CLOSURE, WIN_CLOSURE, make_upstream, reindex, serve

from condafarm import check_channel, list_packages, open_storage, parse_channel, publish, yank
from condafarm.channel.provenance import read_provenance
from condafarm.errors import AlreadyExists, ChannelProblems, PackageError, UsageError
from condafarm.mirror import MirrorSpec, mirror_channel, split_specs
from condafarm.mirror.stored import KEY, parse_mirrors

DYING = Path(__file__).parent / "support" / "dying.py"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_upstream(tmp_path_factory.mktemp("upstream") / "channel")


@pytest.fixture
def upstream(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the upstream folder that a test may change."""
    return Path(shutil.copytree(pristine, tmp_path / "upstream"))


def keys(channel: object) -> set[str]:
    return {f"{p.subdir}/{p.filename}" for p in list_packages(channel)}  # type: ignore[arg-type]


def spec(
    upstream: str, *specs: str, platforms: tuple[str, ...] = ("linux-64", "win-64"), **options: object
) -> MirrorSpec:
    return MirrorSpec.checked(upstream, list(specs), list(platforms), **options)  # type: ignore[arg-type]


def test_specs_split_into_match_specs() -> None:
    assert split_specs(["python 3.11.* numpy", "ffmpeg >=6 *_gpl"]) == ["python 3.11.*", "numpy", "ffmpeg >=6 *_gpl"]


def test_dry_run_prints_each_platforms_closure_with_bytes_and_copies_nothing(upstream: Path, tmp_path: Path) -> None:
    target = tmp_path / "farm"
    result = run_cli(
        "mirror",
        str(upstream),
        "--to",
        str(target),
        "--specs",
        "renderapp",
        "--platform",
        "linux-64",
        "--platform",
        "win-64",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    size = {key: (upstream / key).stat().st_size for key in LINUX_CLOSURE | WIN_CLOSURE}
    linux = lines.index(f"  linux-64: 4 file(s) in the closure, 4 to copy, {sum(size[k] for k in LINUX_CLOSURE)} bytes")
    assert set(lines[linux + 1 : linux + 5]) == {f"    copy     {key}  {size[key]} bytes" for key in LINUX_CLOSURE}
    assert any(line.startswith("  win-64: 4 file(s)") for line in lines)
    assert lines[-1] == f"would copy 6 file(s), {sum(size.values())} bytes, into {target.as_uri()}"
    assert not target.exists()


def test_mirror_copies_the_closure_with_provenance_and_a_rerun_copies_nothing(upstream: Path, tmp_path: Path) -> None:
    target = parse_channel(str(tmp_path / "farm"))
    [report] = mirror_channel(target, spec(str(upstream), "renderapp"))
    assert {w.key for w in report.copied} == LINUX_CLOSURE | WIN_CLOSURE
    assert keys(target) == LINUX_CLOSURE | WIN_CLOSURE
    for key in LINUX_CLOSURE | WIN_CLOSURE:
        assert (tmp_path / "farm" / key).read_bytes() == (upstream / key).read_bytes()
    made = read_provenance(open_storage(target), "noarch", "pyshim-1.0-h0_0.conda")
    assert made is not None and made["kind"] == "mirrored"
    assert made["from"]["channel"] == str(upstream) and made["at"].endswith("Z")
    assert check_channel(target).ok

    [again] = mirror_channel(target)  # the specs the channel keeps
    assert again.copied == [] and again.upstream_requests == 0


def test_virtual_packages_are_stated_per_platform(upstream: Path, tmp_path: Path) -> None:
    target = parse_channel(str(tmp_path / "farm"))
    [report] = mirror_channel(
        target, spec(str(upstream), "renderapp", virtual_packages=["__glibc=2.34", "win-64:__win=10"]), dry_run=True
    )
    linux = {w.key for w, _ in report.platforms["linux-64"]}
    assert "linux-64/libcore-1.2-h0_0.conda" in linux
    assert {w.key for w, _ in report.platforms["win-64"]} == WIN_CLOSURE


def test_all_versions_include_exclude_and_license_filters(upstream: Path, tmp_path: Path) -> None:
    target = parse_channel(str(tmp_path / "farm"))
    chosen = spec(
        str(upstream),
        "renderapp",
        platforms=("linux-64",),
        all_versions=True,
        include=["gplthing"],
        exclude=["pyshim"],
        licenses=["MIT", "BSD*"],
    )
    [report] = mirror_channel(target, chosen, dry_run=True)
    wanted = {w.key for w, _ in report.platforms["linux-64"]}
    assert "noarch/renderapp-1.0-h0_0.conda" in wanted and "noarch/renderapp-2.0-h0_0.conda" in wanted
    assert [w.key for w in report.excluded] == ["noarch/pyshim-1.0-h0_0.conda"]
    assert {w.key for w in report.unlicensed} == {"linux-64/libz-1.3-h0_0.conda", "noarch/gplthing-1.0-h0_0.conda"}
    assert "noarch/gplthing-1.0-h0_0.conda" not in wanted


@pytest.mark.posix("runs the installed shell script")
def test_http_upstream_is_read_through_its_shards_and_the_mirror_installs_without_it(
    upstream: Path, tmp_path: Path, s3: S3Endpoint, s3_channel: object
) -> None:
    """Mirror into moto while another publisher publishes there; then, with the upstream stopped, `env create`
    from the mirror installs the closure and runs its command."""
    own = make_package(tmp_path / "own", "studio-tool", "1.0", subdir="linux-64")
    with serve(upstream) as served:
        publisher = threading.Thread(target=publish, args=(s3_channel, [own]))
        publisher.start()
        [report] = mirror_channel(s3_channel, spec(served.url, "renderapp"))  # type: ignore[arg-type]
        publisher.join()
        read = [p for p in served.paths if not p.endswith((".conda", ".tar.bz2"))]
        served.stop()
    assert {w.key for w in report.copied} == LINUX_CLOSURE | WIN_CLOSURE
    assert read and all("shards" in p for p in read), read  # never a repodata.json
    assert keys(s3_channel) == LINUX_CLOSURE | WIN_CLOSURE | {"linux-64/studio-tool-1.0-h0_0.conda"}
    assert check_channel(s3_channel).ok  # type: ignore[arg-type]

    env = env_with(tmp_path / "cache", **{k: v for k, v in s3.env().items() if k.startswith("S3_")})
    prefix = tmp_path / "env"
    channel_url = s3_channel.url  # type: ignore[attr-defined]
    created = run_cli("env", "create", str(prefix), "--packages", "renderapp", "--channels", channel_url, env=env)
    assert created.returncode == 0, created.stderr
    ran = subprocess.run([str(prefix / "bin" / "renderapp")], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "renderapp 2.0 build 0"


def test_s3_upstream_on_the_same_endpoint(upstream: Path, s3: S3Endpoint, bucket: str, s3_channel: object) -> None:
    upload_dir(s3, bucket, "conda-forge", upstream)  # an internal copy of an upstream, indexed elsewhere
    [report] = mirror_channel(s3_channel, spec(f"s3://{bucket}/conda-forge", "renderapp"))  # type: ignore[arg-type]
    assert {w.key for w in report.copied} == LINUX_CLOSURE | WIN_CLOSURE
    assert keys(s3_channel) == LINUX_CLOSURE | WIN_CLOSURE
    assert report.upstream_requests == 2 * 6  # a HEAD and a GET per file


def test_http_upstream_without_shards_is_read_from_repodata_json(upstream: Path, tmp_path: Path) -> None:
    reindex(upstream, shards=False)
    with serve(upstream) as served:
        [report] = mirror_channel(parse_channel(str(tmp_path / "farm")), spec(served.url, "renderapp"))
    assert {w.key for w in report.copied} == LINUX_CLOSURE | WIN_CLOSURE
    assert any(p.endswith(("repodata.json", "repodata.json.zst")) for p in served.paths)
    assert not any("shards/" in p for p in served.paths)


def test_rerun_after_upstream_gains_a_version_copies_only_that(upstream: Path, tmp_path: Path) -> None:
    target = parse_channel(str(tmp_path / "farm"))
    with serve(upstream) as served:
        mirror_channel(target, spec(served.url, "renderapp"))
        make_package(upstream, "pyshim", "1.1")
        reindex(upstream)
        served.paths.clear()
        [again] = mirror_channel(target)
        downloaded = [p for p in served.paths if p.endswith(".conda")]
    assert [w.key for w in again.copied] == ["noarch/pyshim-1.1-h0_0.conda"]
    assert downloaded == ["/noarch/pyshim-1.1-h0_0.conda"]
    assert "noarch/pyshim-1.0-h0_0.conda" in keys(target)  # what was mirrored before stays


def test_a_file_whose_bytes_differ_from_its_upstream_record_is_refused(upstream: Path, tmp_path: Path) -> None:
    victim = upstream / "linux-64" / "libz-1.3-h0_0.conda"
    data = bytearray(victim.read_bytes())
    data[-30] ^= 0xFF  # same size, other bytes
    victim.write_bytes(bytes(data))
    target = parse_channel(str(tmp_path / "farm"))
    with pytest.raises(PackageError, match="do not match the sha256"):
        mirror_channel(target, spec(str(upstream), "renderapp", platforms=("linux-64",)))
    assert not (tmp_path / "farm" / "linux-64").exists()  # nothing of the batch was published


def test_a_channel_file_with_other_bytes_stops_the_mirror_before_copying(upstream: Path, tmp_path: Path) -> None:
    target = parse_channel(str(tmp_path / "farm"))
    publish(target, [make_package(tmp_path / "own", "pyshim", "1.0", payload="the studio's own")])
    with pytest.raises(AlreadyExists, match="--exclude 'pyshim'"):
        mirror_channel(target, spec(str(upstream), "renderapp"))
    assert keys(target) == {"noarch/pyshim-1.0-h0_0.conda"}
    [report] = mirror_channel(target, spec(str(upstream), "renderapp", exclude=["pyshim"]))
    assert len(report.copied) == 5


@pytest.mark.posix("kills a child process")
def test_a_killed_mirror_leaves_a_valid_channel_and_the_rerun_completes(
    upstream: Path, tmp_path: Path, s3: S3Endpoint, s3_channel: object
) -> None:
    channel_url = s3_channel.url  # type: ignore[attr-defined]
    env = {**s3.env(), "CONDAFARM_MIRROR_BATCH": "2"}
    args = ["mirror", str(upstream), "--to", channel_url, "--specs", "renderapp", "--platform", "linux-64"]
    # dies right after the provenance of the 3rd file: its batch is uploaded in part and not committed
    died = subprocess.run(
        [sys.executable, str(DYING), "after", ".conda.json", "3", "--", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert died.returncode == DIED, died.stderr
    kept = keys(s3_channel)
    assert 0 < len(kept) < len(LINUX_CLOSURE)
    _rattler_solves(s3, channel_url, [k.rsplit("/", 1)[1].split("-")[0] for k in kept], tmp_path)

    rerun = run_cli(*args, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert keys(s3_channel) == LINUX_CLOSURE
    assert check_channel(s3_channel).ok  # type: ignore[arg-type]
    _rattler_solves(s3, channel_url, ["renderapp"], tmp_path)


def _rattler_solves(s3: S3Endpoint, channel_url: str, specs: list[str], tmp_path: Path) -> None:
    """py-rattler, in its own process, solves `specs` from the channel (an independent reader)."""
    env = env_with(tmp_path / "cache", **{k: v for k, v in s3.env().items() if k.startswith("S3_")})
    where = str(tmp_path / f"env{len(specs)}")
    result = run_cli("env", "create", where, "--packages", " ".join(specs), "--channels", channel_url, env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (b"mirrors: &a [*a]\n", "not readable YAML"),
        (b"mirrors:\n- {upstream: x, specs: [a], command: rm}\n", "only"),
        (b"mirrors:\n- {upstream: x, specs: [a], platforms: [../../etc]}\n", "not a conda platform"),
        (b"mirrors:\n- {upstream: x, specs: ['a >=< 1']}\n", "not a valid match spec"),
        (b"mirrors:\n- {upstream: x, specs: 'a b'}\n", "list of strings"),
        (b"mirrors:\n- {upstream: x, specs: [a], virtual_packages: ['__glibc=nan; rm']}\n", "virtual package"),
        (b"mirrors:\n- {upstream: x, specs: [a], all_versions: 'yes'}\n", "true or false"),
        (b"\xff\xfe", "not readable YAML"),
        (b"x" * 70_000, "larger than"),
        (b"[1, 2]", "one key"),
    ],
)
def test_a_hostile_mirror_yaml_is_refused(text: bytes, why: str) -> None:
    with pytest.raises(ChannelProblems, match=why):
        parse_mirrors(text, "CHANNEL/.condafarm/mirror.yaml")


def test_a_bad_stored_spec_is_a_readable_error_and_a_new_spec_replaces_it(upstream: Path, tmp_path: Path) -> None:
    farm = tmp_path / "farm"
    (farm / ".condafarm").mkdir(parents=True)
    (farm / KEY).write_text("mirrors: [{upstream: x}]\n")
    result = run_cli("mirror", "--to", str(farm))
    assert result.returncode == 7 and "condafarm mirror UPSTREAM --to CHANNEL --specs" in result.stderr
    fixed = run_cli("mirror", str(upstream), "--to", str(farm), "--specs", "pyshim")
    assert fixed.returncode == 0, fixed.stderr
    [kept] = parse_mirrors((farm / KEY).read_bytes(), "mirror.yaml")
    assert kept.specs == ("pyshim",)


def test_usage_errors_say_what_to_do(tmp_path: Path) -> None:
    farm = str(tmp_path / "farm")
    assert "keeps no mirror specs" in run_cli("mirror", "--to", farm).stderr
    result = run_cli("mirror", "--to", farm, "--platform", "win-64")
    assert result.returncode == 2 and "need --specs" in result.stderr
    with pytest.raises(UsageError, match="not a conda platform"):
        spec("x", "a", platforms=("noarch",))


def test_the_upstreams_repodata_patches_are_kept(upstream: Path, tmp_path: Path) -> None:
    """conda-forge fixes wrong dependencies in its repodata, not in the packages: the mirror keeps the fix."""
    reindex(upstream, shards=False)
    path = upstream / "linux-64" / "repodata.json"
    repodata = json.loads(path.read_text())
    repodata["packages.conda"]["libcore-1.1-h0_0.conda"]["depends"] = ["libz >=1.3", "pyshim >=1"]
    path.write_text(json.dumps(repodata))
    (upstream / "linux-64" / "repodata.json.zst").unlink()
    target = parse_channel(str(tmp_path / "farm"))
    mirror_channel(target, spec(str(upstream), "renderapp", platforms=("linux-64",)))
    [libcore] = list_packages(target, "libcore")
    assert libcore.record["depends"] == ["libz >=1.3", "pyshim >=1"]


def test_a_patch_that_clients_cannot_read_is_refused(tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkgs", "tool", "1.0")
    target = parse_channel(str(tmp_path / "farm"))
    for patch in ({"depends": ["a >=< 1"]}, {"depends": "a"}, {"name": ["evil"]}):
        with pytest.raises(PackageError):
            publish(target, [package], patches={package.name: patch})
    assert not (tmp_path / "farm").exists()


def test_check_reports_packages_whose_dependencies_are_missing(upstream: Path, tmp_path: Path) -> None:
    target = parse_channel(str(tmp_path / "farm"))
    publish(target, [make_package(tmp_path / "own", "studio-tool", "1.0", depends=["libz >=9", "__unix"])])
    plain = check_channel(target)
    assert plain.ok  # a studio channel may rely on another channel beside it: a note only
    assert plain.notes == [
        "1 package(s) depend on names this channel does not offer (from another channel beside it?): libz (1)"
    ]
    mirror_channel(target, spec(str(upstream), "renderapp", platforms=("linux-64",)))
    assert check_channel(target).problems == [
        "noarch/studio-tool-1.0-h0_0.conda: depends on 'libz >=9', which nothing in noarch or any platform provides"
        f"; run `condafarm mirror --to {target.url}`"
    ]
    publish(target, [make_package(tmp_path / "own", "libz", "9.0")])
    assert check_channel(target).ok


def test_a_closure_that_cannot_be_solved_names_the_platform(upstream: Path, tmp_path: Path) -> None:
    result = run_cli(
        "mirror", str(upstream), "--to", str(tmp_path / "farm"), "--specs", "renderapp >=9", "--platform", "win-64",
    )  # fmt: skip
    assert result.returncode == 9, result.stderr
    assert "cannot solve renderapp >=9 on win-64 from" in result.stderr
    assert not (tmp_path / "farm").exists()


def test_a_file_yanked_from_the_mirror_is_not_copied_again(upstream: Path, tmp_path: Path) -> None:
    target = parse_channel(str(tmp_path / "farm"))
    mirror_channel(target, spec(str(upstream), "renderapp", platforms=("linux-64",)))
    yank(target, ["noarch/pyshim-1.0-h0_0.conda"])
    [again] = mirror_channel(target)
    assert again.copied == []
    assert ("noarch/pyshim-1.0-h0_0.conda", "yanked") in {(w.key, state) for w, state in again.platforms["linux-64"]}
