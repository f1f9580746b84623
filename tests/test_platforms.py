"""The Windows and macOS rules, tested on every host: drive-letter and UNC channel paths, cmd.exe quoting,
activation scripts, cache roots, how a build's child is started for cancellation, and the CI workflow that runs
all of it on Linux, Windows and macOS runners. Tests that need the host itself (a real drive letter, Windows'
process-group flag) run on the Windows runner and are skipped elsewhere."""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from condafarm_worker.cancel import CREATE_NEW_PROCESS_GROUP, child_start

from condafarm import UsageError, parse_channel
from condafarm.env.install.activation import activate_scripts, activation_changes, cmd_quote, cmd_script, sh_script
from condafarm.env.install.cache import cache_root, default_cache_root
from condafarm.storage.location import local_path

windows_only = pytest.mark.skipif(os.name != "nt", reason="needs a Windows host (drive letters, process groups)")

STUDIO = PureWindowsPath("C:/Channels/Studio")
SHARE = PureWindowsPath("//server/share/Conda")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (r"C:\Channels\Studio", STUDIO),
        ("C:/Channels/Studio", STUDIO),
        ("file:///C:/Channels/Studio", STUDIO),
        ("file:///c:/Channels/Studio", PureWindowsPath("c:/Channels/Studio")),
        ("file://localhost/C:/Channels/Studio", STUDIO),
        ("file:///C|/Channels/Studio", STUDIO),  # the old form some tools still write
        ("file:///C:/My%20Channels/St%C3%BCdio", PureWindowsPath("C:/My Channels/Stüdio")),
        (r"\\server\share\Conda", SHARE),
        ("//server/share/Conda", SHARE),
        ("file://server/share/Conda", SHARE),  # what as_uri() makes of a share
        ("file:////server/share/Conda", SHARE),  # the form .NET and some browsers write
        (r"channels\studio", PureWindowsPath("channels/studio")),
    ],
)
def test_windows_channel_locations_name_the_right_folder_on_any_host(location: str, expected: PureWindowsPath) -> None:
    found = local_path(location, windows=True)
    assert isinstance(found, PureWindowsPath) and found == expected


def test_windows_channel_urls_round_trip_drive_letters_and_shares() -> None:
    assert STUDIO.as_uri() == "file:///C:/Channels/Studio" and SHARE.as_uri() == "file://server/share/Conda"
    for path in (STUDIO, SHARE, PureWindowsPath("D:/render farm/100% ü")):
        assert local_path(path.as_uri(), windows=True) == path
    assert local_path(r"\\server\share\Conda", windows=True).drive == r"\\server\share"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/srv/channels/studio", PurePosixPath("/srv/channels/studio")),
        ("file:///srv/channels/studio", PurePosixPath("/srv/channels/studio")),
        ("file://localhost/srv/my%20channels", PurePosixPath("/srv/my channels")),
        (r"C:\Channels", PurePosixPath(r"C:\Channels")),  # on POSIX that is a file name in the current folder
    ],
)
def test_posix_channel_locations_name_the_right_folder_on_any_host(location: str, expected: PurePosixPath) -> None:
    found = local_path(location, windows=False)
    assert isinstance(found, PurePosixPath) and found == expected


def test_a_file_url_naming_another_host_is_refused_where_shares_are_not_paths() -> None:
    with pytest.raises(UsageError, match="must be local"):
        local_path("file://server/share/Conda", windows=False)


def test_parse_channel_reads_local_locations_by_the_host_rules(tmp_path: Path) -> None:
    windows = os.name == "nt"
    for location in (str(tmp_path), tmp_path.as_uri()):
        channel = parse_channel(location)
        assert channel.path == Path(local_path(location, windows=windows)) == tmp_path
        assert channel.url == tmp_path.as_uri() and not channel.is_s3


@windows_only
def test_drive_letter_and_share_channels_on_a_windows_host() -> None:
    for location in (r"C:\Channels\Studio", "file:///C:/Channels/Studio"):
        channel = parse_channel(location)
        assert channel.path == Path(r"C:\Channels\Studio") and channel.url == "file:///C:/Channels/Studio"
    shared = parse_channel(r"\\server\share\Conda")
    assert shared.url == "file://server/share/Conda" and parse_channel(shared.url).path == shared.path


#: Variables the model of cmd.exe below expands, to show unquoted text would change.
CMD_VARIABLES = {"PATH": "C:\\Windows", "X": "expanded"}


def _percent_phase(line: str, variables: Mapping[str, str] = CMD_VARIABLES) -> str:
    """One `%` expansion pass of a batch-file line as cmd.exe does it with delayed expansion off (a CALL line
    gets two): `%%` is `%`, `%0`-`%9`, `%*` and `%~dp0`-style are the script's arguments (none here), `%NAME%`
    is the variable (nothing when unset), and a lone `%` is dropped."""

    def expand(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "%%":
            return "%"
        if len(text) > 2 and text.endswith("%") and not text.startswith("%~"):
            return variables.get(text[1:-1].upper(), "")
        return ""

    return re.sub(r"%%|%[0-9*]|%~[a-zA-Z$:]*[0-9]|%[^%\r\n]+%|%", expand, line)


HOSTILE_CMD = [
    r"C:\Program Files\Studio 100%\python.exe",
    r"C:\env\%PATH%\x",
    r"C:\a %X% b %%c %~dp0 %1 %*",
    r"C:\O'Brien & Co (x86)\a|b<c>d !x! é;$(y)`z`",
]


@pytest.mark.parametrize("text", HOSTILE_CMD)
def test_cmd_quote_survives_the_expansion_of_a_plain_line_and_of_a_call_line(text: str) -> None:
    assert _percent_phase(f'"{text}"') != f'"{text}"' or "%" not in text  # the model does expand
    assert _percent_phase(cmd_quote(text)) == f'"{text}"'
    assert _percent_phase(_percent_phase(cmd_quote(text, call=True))) == f'"{text}"'


def test_the_cmd_activation_script_is_utf8_crlf_and_names_no_temporary_path() -> None:
    scripts = [PureWindowsPath(r"C:\env 100%\etc\conda\activate.d\b.bat"), PureWindowsPath(r"C:\e\a&b.bat")]
    text = cmd_script(r"C:\Python 3.12\python.exe", scripts)
    lines = text.split("\r\n")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert lines[0] == "@chcp 65001 > nul"  # the script and the values it prints are UTF-8
    assert [line.split(" ", 1)[0] for line in lines[1:-1]] == ['@"C:\\Python', "@CALL", "@CALL", '@"C:\\Python']
    assert lines[1].endswith('"%~dp0dump.py" "%~dp0before.json"') and lines[4].endswith('"%~dp0after.json"')
    assert [_percent_phase(_percent_phase(line)) for line in lines[2:4]] == [f'@CALL "{s}"' for s in scripts]


def test_the_sh_activation_script_is_lf_and_quotes_every_path() -> None:
    folder = PurePosixPath("/tmp/condafarm-activate-x y")
    scripts = [PurePosixPath("/env/etc/conda/activate.d/a $(b) 'c'.sh")]
    text = sh_script("/opt/py thon/bin/python", scripts, Path(folder))
    assert "\r" not in text and text.endswith("\n")
    assert [shlex.split(line) for line in text.splitlines()] == [
        ["/opt/py thon/bin/python", f"{folder}/dump.py", f"{folder}/before.json"],
        [".", str(scripts[0])],
        ["/opt/py thon/bin/python", f"{folder}/dump.py", f"{folder}/after.json"],
    ]


def test_each_host_runs_only_its_own_shells_activate_scripts(tmp_path: Path) -> None:
    folder = tmp_path / "etc" / "conda" / "activate.d"
    folder.mkdir(parents=True)
    for name in ("b.sh", "a.bat", "c.ps1", "a.sh", "d.fish"):
        (folder / name).write_text("")
    assert [p.name for p in activate_scripts(tmp_path, ".sh")] == ["a.sh", "b.sh"]
    assert [p.name for p in activate_scripts(tmp_path, ".bat")] == ["a.bat"]


#: An activate.d script name holding cmd.exe and sh syntax (no `"`: Windows file names cannot hold it).
ODD_NAME = "z 100% a&b !x! (d) é;e $(touch PWNED)"


def test_activation_runs_a_hostile_script_name_in_the_hosts_shell(tmp_path: Path) -> None:
    """sh on Linux and macOS, cmd.exe on Windows: the script runs, the prefix arrives intact, nothing else runs."""
    prefix = tmp_path / "env 100% a&b"
    folder = prefix / "etc" / "conda" / "activate.d"
    folder.mkdir(parents=True)
    (folder / f"{ODD_NAME}.sh").write_text('export FROM_SCRIPT="ran in $CONDA_PREFIX"\n')
    (folder / f"{ODD_NAME}.bat").write_text('@SET "FROM_SCRIPT=ran in %CONDA_PREFIX%"\r\n')
    changes = activation_changes(prefix)
    assert changes["CONDA_PREFIX"] == str(prefix) and changes["FROM_SCRIPT"] == f"ran in {prefix}"
    first = str(changes["PATH"]).split(os.pathsep)[0]
    assert first == (str(prefix) if os.name == "nt" else str(prefix / "bin"))
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))


@pytest.mark.parametrize(
    ("platform", "environ", "home", "expected"),
    [
        (
            "win32",
            {"LOCALAPPDATA": r"C:\Users\ann\AppData\Local"},
            r"C:\Users\ann",
            PureWindowsPath(r"C:\Users\ann\AppData\Local\condafarm\cache"),
        ),
        ("win32", {}, r"C:\Users\ann", PureWindowsPath(r"C:\Users\ann\AppData\Local\condafarm\cache")),
        (
            "win32",
            {"XDG_CACHE_HOME": "/x"},
            r"C:\Users\ann",
            PureWindowsPath(r"C:\Users\ann\AppData\Local\condafarm\cache"),
        ),
        ("darwin", {}, "/Users/ann", PurePosixPath("/Users/ann/Library/Caches/condafarm")),
        ("darwin", {"XDG_CACHE_HOME": "/x"}, "/Users/ann", PurePosixPath("/Users/ann/Library/Caches/condafarm")),
        ("linux", {"XDG_CACHE_HOME": "/var/cache/ann"}, "/home/ann", PurePosixPath("/var/cache/ann/condafarm")),
        ("linux", {}, "/home/ann", PurePosixPath("/home/ann/.cache/condafarm")),
        ("linux", {"XDG_CACHE_HOME": "rel/cache"}, "/home/ann", PurePosixPath("/home/ann/.cache/condafarm")),
        ("win32", {"CONDAFARM_ENV_CACHE": r"D:\envs"}, r"C:\Users\ann", PureWindowsPath(r"D:\envs")),
        ("darwin", {"CONDAFARM_ENV_CACHE": "/Volumes/fast/envs"}, "/Users/ann", PurePosixPath("/Volumes/fast/envs")),
    ],
)
def test_cache_root_per_platform(platform: str, environ: dict[str, str], home: str, expected: object) -> None:
    found = cache_root(platform, environ, home)
    assert type(found) is type(expected) and found == expected


def test_default_cache_root_is_the_hosts_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONDAFARM_ENV_CACHE", raising=False)
    assert default_cache_root() == Path(cache_root(sys.platform, os.environ, str(Path.home())))
    monkeypatch.setenv("CONDAFARM_ENV_CACHE", "somewhere")
    assert default_cache_root() == Path("somewhere")


VENV_PYTHON = r"C:\farm\condafarm\Scripts\python.exe"
BASE_PYTHON = r"C:\Python312\python.exe"


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_a_build_child_starts_plainly_on_posix(platform: str) -> None:
    argv = ["/opt/condafarm/bin/python", "-m", "condafarm_worker", "build", "--in-process"]
    assert child_start(
        argv, platform=platform, environ={"A": "1"}, executable=argv[0], base_executable="/usr/bin/python3"
    ) == (argv, {})


def test_a_build_child_on_windows_has_its_own_process_group_utf8_output_and_no_venv_launcher() -> None:
    argv = [VENV_PYTHON, "-m", "condafarm_worker", "build", "--in-process"]
    command, options = child_start(
        argv, platform="win32", environ={"A": "1"}, executable=VENV_PYTHON, base_executable=BASE_PYTHON
    )
    assert command == [BASE_PYTHON, *argv[1:]]
    assert options["creationflags"] == CREATE_NEW_PROCESS_GROUP == 0x200
    assert options["env"] == {
        "A": "1",
        "PYTHONIOENCODING": "utf-8:backslashreplace",
        "__PYVENV_LAUNCHER__": VENV_PYTHON,
    }
    plain, _ = child_start(argv, platform="win32", environ={}, executable=VENV_PYTHON, base_executable=VENV_PYTHON)
    assert plain == argv  # not in a venv: the interpreter itself


@windows_only
def test_the_windows_process_group_flag_is_the_one_subprocess_knows() -> None:
    import subprocess

    assert subprocess.CREATE_NEW_PROCESS_GROUP == CREATE_NEW_PROCESS_GROUP


def test_the_ci_workflow_runs_the_readme_test_command_on_linux_windows_and_macos() -> None:
    import yaml

    root = Path(__file__).resolve().parents[1]
    workflow = yaml.safe_load((root / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    assert {"push", "pull_request"} <= set(workflow[True])  # YAML 1.1 reads the key `on` as True
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "${{ matrix.os }}" and job["defaults"]["run"]["shell"] == "bash"
    runs = {(entry["os"], entry["python"], entry["venv"]) for entry in job["strategy"]["matrix"]["include"]}
    assert runs == {
        ("ubuntu-latest", "3.10", ".venv/bin"),
        ("ubuntu-latest", "3.12", ".venv/bin"),
        ("windows-latest", "3.12", ".venv/Scripts"),
        ("macos-latest", "3.12", ".venv/bin"),
    }
    assert all(("uses" in step) != ("run" in step) for step in job["steps"])
    script = "\n".join(step["run"] for step in job["steps"] if "run" in step)
    readme = (root / "README.md").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if "pip install -q -c constraints.txt -e '.[test]'" in line)
    tools = [part.strip().removeprefix(".venv/bin/") for part in command.split("&&")[1:]]
    assert tools[0] == "pip install -q -c constraints.txt -e '.[test]'" and "python -m venv .venv" in script
    for tool in tools:  # pip install, ruff check, ruff format --check, mypy, pytest: as the README runs each
        assert f"${{{{ matrix.venv }}}}/python -m {tool}" in script, tool
