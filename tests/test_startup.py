"""Start-up of the `condafarm` command: each command loads only the subsystems it uses, and the lazy public API
still offers every name in `condafarm.__all__`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.packages import make_channel

#: Subsystems that take most of a second to import between them.
HEAVY = {"rattler", "rattler_build", "boto3", "botocore"}
#: What every command needs only once it works on a channel (parsers of packages and repodata, process pools).
CHANNEL_WORK = {"zstandard", "msgpack", "yaml", "psutil", "multiprocessing"}

_RUN = textwrap.dedent(
    """
    import json, sys
    from condafarm.cli import run
    try:
        code = run(sys.argv[1:])
    except SystemExit as exc:  # --help and --version leave through argparse
        code = exc.code
    print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
    """
)


def _loaded(*args: str) -> set[str]:
    """The top-level packages imported while `condafarm ARGS` ran in a fresh interpreter (it must succeed)."""
    result = subprocess.run(
        [sys.executable, "-c", _RUN, *args], capture_output=True, text=True, timeout=120, check=False
    )
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["code"] == 0, result.stdout + result.stderr
    return {name.partition(".")[0] for name in outcome["modules"]}


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["publish", "--help"], ["env", "create", "--help"]])
def test_version_and_help_load_no_subsystem(args: list[str]) -> None:
    assert _loaded(*args) & (HEAVY | CHANNEL_WORK) == set()


def test_folder_channel_commands_load_neither_builder_nor_s3_client(tmp_path: Path) -> None:
    channel = str(tmp_path / "ch")
    make_channel(tmp_path / "ch", {"noarch": 2, "linux-64": 1})
    # index and check read metadata with py-rattler's parsers (what clients read it with).
    assert _loaded("index", channel) & HEAVY == {"rattler"}
    assert _loaded("check", channel) & HEAVY == {"rattler"}
    # py-rattler orders versions and matches specs for ls; the builder and boto3 stay out.
    assert _loaded("ls", channel, "pkg1") & HEAVY == {"rattler"}


def test_importing_condafarm_loads_no_submodule_until_a_name_is_used() -> None:
    code = textwrap.dedent(
        """
        import sys
        import condafarm
        before = sorted(m for m in sys.modules if m.startswith("condafarm."))
        from condafarm import parse_channel
        after = sorted(m for m in sys.modules if m.startswith("condafarm."))
        print(before, "boto3" in sys.modules, "condafarm.storage.location" in after)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    # condafarm/version.py (the version string, nothing imported) is the one module the package itself loads
    assert result.stdout.split() == ["['condafarm.version']", "False", "True"]


def test_every_public_name_can_be_imported_from_condafarm() -> None:
    import condafarm

    for name in condafarm.__all__:
        value = getattr(condafarm, name)
        if not name.isupper():  # constants (DEFAULT_GRACE_HOURS, SERVER_FORMS) are values
            assert value.__name__.rsplit(".", 1)[-1] == name  # `numbers` is a module
    assert set(condafarm.__all__) <= set(dir(condafarm))
    with pytest.raises(AttributeError):
        _ = condafarm.no_such_name  # type: ignore[attr-defined]
