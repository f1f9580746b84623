"""Channel names resolved as conda resolves them (env/condarc.py): where condarc files are looked for, how they
merge, what each kind of name becomes, and requests built through them. Nothing here reaches a network."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support.cli import run_cli
from support.environments import env_with, folder_channel, openjd_env

from condafarm.env.request.condarc import (
    BUILTIN_DEFAULTS,
    BUILTIN_DEFAULTS_WINDOWS,
    CondaConfig,
    explain_channels,
    is_name,
    load_condarc,
    search_path,
)
from condafarm.env.request.spec import make_spec
from condafarm.errors import UsageError

#: What a Deadline Cloud service-managed fleet host's condarc says, with the bucket of a studio.
SMF = {"custom_channels": {"deadline-cloud": "s3://studio-bucket/Conda"}}


def write(path: Path, settings: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings))
    return path


def only(condarc: Path) -> dict[str, str]:
    """An environment in which conda (and condafarm) read exactly `condarc`."""
    return {"CONDA_RESTRICT_RC_SEARCH_PATH": "1", "CONDARC": str(condarc)}


def test_search_path_is_condas_order_with_unset_variables_left_out(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"CONDA_EXE": "/opt/conda/bin/conda", "CONDA_PREFIX": "/envs/shot", "CONDARC": "/studio/condarc"}
    assert [str(p) for p in search_path(env, home=home, windows=False)] == [
        "/etc/conda/.condarc",
        "/etc/conda/condarc",
        "/etc/conda/condarc.d",
        "/var/lib/conda/.condarc",
        "/var/lib/conda/condarc",
        "/var/lib/conda/condarc.d",
        "/opt/conda/.condarc",  # $CONDA_ROOT, from where conda's shell hook found conda
        "/opt/conda/condarc",
        "/opt/conda/condarc.d",
        f"{home}/.config/conda/.condarc",
        f"{home}/.config/conda/condarc",
        f"{home}/.config/conda/condarc.d",
        f"{home}/.conda/.condarc",
        f"{home}/.conda/condarc",
        f"{home}/.conda/condarc.d",
        f"{home}/.condarc",
        "/envs/shot/.condarc",
        "/envs/shot/condarc",
        "/envs/shot/condarc.d",
        "/studio/condarc",
    ]
    windows = [str(p) for p in search_path({}, home=home, windows=True)]
    assert windows[:3] == [
        "C:/ProgramData/conda/.condarc",
        "C:/ProgramData/conda/condarc",
        "C:/ProgramData/conda/condarc.d",
    ]
    assert windows[-1] == f"{home}/.condarc" and not any("/etc/" in p for p in windows)
    assert [str(p) for p in search_path(only(Path("/x/rc")), home=home)] == ["/x/rc"]
    assert search_path({"CONDA_RESTRICT_RC_SEARCH_PATH": "1"}, home=home) == []


def test_later_files_override_as_conda_merges_them(tmp_path: Path) -> None:
    home, root = tmp_path / "home", tmp_path / "root"
    write(
        root / "condarc",
        {
            "channel_alias": "https://root.example",
            "custom_channels": {"deadline-cloud": "s3://old/Conda", "vendor": "https://vendor.example"},
            "default_channels": ["https://mirror.example/main", "https://mirror.example/r"],
        },
    )
    write(root / "condarc.d" / "b.yaml", {"custom_multichannels": {"studio": ["deadline-cloud", "conda-forge"]}})
    write(root / "condarc.d" / "a.yml", {"custom_multichannels": {"studio": ["ignored"]}})  # read before b.yaml
    write(
        home / ".condarc",
        {
            "channel_alias": "https://user.example",
            "default_channels": ["https://mirror.example/r", "https://user.example/x"],
        },
    )
    override = write(tmp_path / "job.condarc", {"custom_channels": {"deadline-cloud": "s3://studio-bucket/Conda"}})
    (root / "condarc.d" / "notes.txt").write_text("not: [yaml")  # only .yml/.yaml files of a condarc.d count

    if any(p.exists() for p in search_path({}, home=home, windows=False)[:6]):
        pytest.skip("this host has a system-wide condarc, which would take part in the merge")
    config = load_condarc({"CONDA_ROOT": str(root), "CONDARC": str(override)}, home=home, windows=False)
    assert config.channel_alias == "https://user.example"  # a setting: the last file wins
    assert config.custom_channels == {"deadline-cloud": "s3://studio-bucket/Conda", "vendor": "https://vendor.example"}
    assert config.custom_multichannels == {"studio": ("deadline-cloud", "conda-forge")}
    # a list: the later file's entries first, each once
    assert config.default_channels == (
        "https://mirror.example/r",
        "https://user.example/x",
        "https://mirror.example/main",
    )
    assert config.origin["custom_channels.deadline-cloud"] == str(override)
    assert config.origin["custom_channels.vendor"] == str(root / "condarc")


def test_names_become_what_conda_makes_them() -> None:
    config = CondaConfig(
        channel_alias="https://conda.studio.example/",
        custom_channels={"deadline-cloud": "s3://studio-bucket/Conda/", "tools/stable": "file:///mnt/conda"},
        custom_multichannels={"studio": ("deadline-cloud", "https://vendor.example/ch", "/srv/ch")},
        default_channels=("https://mirror.example/main", "pkgs/r"),
        windows=False,
    )
    assert config.expand("deadline-cloud") == ("s3://studio-bucket/Conda/deadline-cloud",)
    assert config.expand("deadline-cloud/label/dev") == ("s3://studio-bucket/Conda/deadline-cloud/label/dev",)
    assert config.expand("tools/stable/extra") == ("file:///mnt/conda/tools/stable/extra",)  # longest match
    assert config.expand("conda-forge") == ("https://conda.studio.example/conda-forge",)
    assert config.expand("defaults") == ("https://mirror.example/main", "https://conda.studio.example/pkgs/r")
    # multichannel entries are names under the alias, as conda's make_simple_channel makes them
    assert config.expand("studio") == (
        "https://conda.studio.example/deadline-cloud",
        "https://vendor.example/ch",
        "/srv/ch",
    )
    for literal in ("s3://b/Conda/Default", "https://x.example/c", "file:///srv/c", "/srv/c", "./c", "C:\\conda\\c"):
        assert config.expand(literal) == (literal,)
    with pytest.raises(UsageError, match="'local' channel is conda-build's output folder"):
        config.expand("local")


def test_no_channels_means_condarc_channels_else_condas_defaults(tmp_path: Path) -> None:
    assert CondaConfig(windows=False).expand_all([]) == BUILTIN_DEFAULTS
    assert CondaConfig(windows=True).expand_all([]) == BUILTIN_DEFAULTS_WINDOWS
    rc = write(tmp_path / "condarc", {**SMF, "default_channels": ["s3://studio-bucket/Conda/Default"]})
    assert load_condarc(only(rc)).expand_all([]) == ("s3://studio-bucket/Conda/Default",)
    write(rc, {**SMF, "channels": ["deadline-cloud", "defaults"], "default_channels": ["https://mirror.example/m"]})
    assert load_condarc(only(rc)).expand_all([]) == (
        "s3://studio-bucket/Conda/deadline-cloud",
        "https://mirror.example/m",
    )
    assert explain_channels([], load_condarc(only(rc))) == [
        f"no channels given: using channels in {rc}: s3://studio-bucket/Conda/deadline-cloud https://mirror.example/m"
    ]


def test_make_spec_resolves_names_and_empty_channels_without_reaching_a_network(tmp_path: Path) -> None:
    rc = write(tmp_path / "condarc", SMF)
    config = load_condarc(only(rc))
    spec = make_spec("render-tool", "deadline-cloud conda-forge", platform="linux-64", condarc=config)
    assert spec.channels == ("s3://studio-bucket/Conda/deadline-cloud", "https://conda.anaconda.org/conda-forge")
    empty = make_spec("render-tool", "", platform="linux-64", condarc=CondaConfig(windows=False))
    assert empty.channels == BUILTIN_DEFAULTS
    # the request names its channels as resolved, so remapping a name makes another cached environment
    moved = load_condarc(only(write(tmp_path / "moved", {"custom_channels": {"deadline-cloud": "s3://new/Conda"}})))
    assert make_spec("render-tool", "deadline-cloud", platform="linux-64", condarc=moved).key != spec.key
    assert explain_channels(["deadline-cloud", "s3://b/c"], config) == [
        f"channel deadline-cloud is s3://studio-bucket/Conda/deadline-cloud (custom_channels in {rc})"
    ]


def test_environment_variables_override_files_as_for_conda(tmp_path: Path) -> None:
    rc = write(tmp_path / "condarc", {"channel_alias": "https://file.example", "default_channels": ["https://f/m"]})
    env = {
        **only(rc),
        "CONDA_CHANNEL_ALIAS": "https://env.example",
        "CONDA_DEFAULT_CHANNELS": "https://e/a, https://e/b",
    }
    config = load_condarc(env)
    assert config.expand("conda-forge") == ("https://env.example/conda-forge",)
    assert config.default_channels == ("https://e/a", "https://e/b", "https://f/m")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("custom_channels: [a, b]\n", "custom_channels in .* must map channel names to URLs"),
        ("custom_channels:\n  deadline-cloud: [s3://x]\n", "custom_channels.deadline-cloud in .* must be the URL"),
        ("default_channels: s3://x\n", "default_channels in .* must be a list"),
        ("channels: [a\n", "cannot read condarc .*; fix it or set CONDARC"),
        ("- a\n", "is not a mapping of settings"),
    ],
)
def test_a_broken_condarc_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    rc = tmp_path / "condarc"
    rc.write_text(text)
    with pytest.raises(UsageError, match=message) as raised:
        load_condarc(only(rc))
    assert "\n" not in str(raised.value) and str(rc) in str(raised.value)


def test_urls_and_folders_never_read_condarc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "condarc"
    broken.write_text("channels: [a\n")
    for name, value in only(broken).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UsageError, match="cannot read condarc"):
        make_spec("render-tool", "deadline-cloud", platform="linux-64")
    spec = make_spec("render-tool", f"s3://b/Conda/Default {tmp_path}", platform="linux-64", condarc=None)
    assert spec.channels == ("s3://b/Conda/Default", str(tmp_path))
    assert explain_channels(["s3://b/c", str(tmp_path)]) == []


def test_a_slash_makes_a_label_unless_such_a_folder_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert is_name("conda-forge/label/dev")
    (tmp_path / "build" / "channel").mkdir(parents=True)
    assert not any(is_name(c) for c in ("build/channel", "./x", "~/c", "D:\\c", "c\\d"))


def test_env_enter_installs_through_a_condarc_that_maps_names_to_folders(tmp_path: Path) -> None:
    studio = folder_channel(tmp_path / "conda" / "studio")
    rc = tmp_path / "condarc"
    env = {**env_with(tmp_path / "cache"), **only(rc)}
    for settings, why in [
        ({"custom_channels": {"studio": (tmp_path / "conda").as_uri()}}, "custom_channels"),
        ({"custom_channels": {"studio": str(tmp_path / "conda")}}, "custom_channels"),  # a folder, not a URL
        ({"channel_alias": (tmp_path / "conda").as_uri()}, "channel_alias"),
        ({"custom_multichannels": {"shows": [studio.as_uri()]}}, "custom_multichannels"),
        ({"default_channels": [studio.as_uri()]}, "default_channels"),
    ]:
        write(rc, settings)
        name = {"custom_multichannels": "shows", "default_channels": "defaults"}.get(why, "studio")
        result = run_cli("env", "enter", "--packages", "render-tool", "--channels", name, env=env)
        assert result.returncode == 0, result.stderr
        assert f"channel {name} is " in result.stdout and f"({why} in {rc})" in result.stdout
        assert (Path(openjd_env(result.stdout)["CONDA_PREFIX"]) / "bin" / "render-tool").exists()
    empty = run_cli("env", "enter", "--packages", "render-tool", "--channels", "", env=env)
    assert empty.returncode == 0, empty.stderr
    assert f"no channels given: using conda's default channels: {studio.as_uri()}" in empty.stdout
