"""Numbers from people, job parameters and the environment: NaN, infinities and out-of-range values are refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import run_cli

from condafarm.errors import UsageError
from condafarm.numbers import AT_LEAST_ONE, DURATION, POSITIVE_DURATION, Range, check_number, number, whole_number

WORKER = str(Path(sys.executable).parent / "condafarm-worker")


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e999", "-1", "", "ten", "0x10"])
def test_a_duration_refuses_what_is_not_a_finite_number_in_range(text: str) -> None:
    with pytest.raises(UsageError, match="--grace-hours must be a number of at least 0 and at most"):
        number(text, "--grace-hours", DURATION)


def test_numbers_in_range_parse_with_their_kind() -> None:
    assert number(" 2.5 ", "x", DURATION) == 2.5
    assert whole_number("7", "x", AT_LEAST_ONE) == 7
    assert check_number(3, "x", AT_LEAST_ONE) == 3
    for bad in (0, 1.5, float("nan"), True):
        with pytest.raises(UsageError, match="whole number of at least 1"):
            check_number(bad, "--keep", AT_LEAST_ONE)
    with pytest.raises(UsageError, match="above 0"):
        number("0", "x", POSITIVE_DURATION)
    assert number("-3", "x", Range()) == -3


@pytest.mark.parametrize(
    "args",
    [
        ["env", "exit", "--cleanup-after-hours", "nan"],
        ["env", "exit", "--cleanup-after-hours", "-1"],
        ["env", "enter", "--packages", "x", "--update-after-minutes", "nan"],
        ["env", "enter", "--packages", "x", "--update-after-minutes", "inf"],
        ["next-build-number", "CHANNEL", "tool", "1.0", "--increment", "99999999999"],
        ["next-build-number", "CHANNEL", "tool", "1.0", "--increment", "-1"],
        ["prune", "CHANNEL", "--keep", "1", "--protect-window-days", "inf"],
        ["build", "RECIPE", "--min-free-disk", "9" * 400],
    ],
)
def test_every_numeric_option_refuses_nan_infinities_and_out_of_range_in_one_line(
    tmp_path: Path, args: list[str]
) -> None:
    args = [str(tmp_path) if a in ("CHANNEL", "RECIPE") else a for a in args]
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    "variable", ["CONDAFARM_COMMIT_LEASE_SECONDS", "CONDAFARM_COMPACT_BYTES", "CONDAFARM_CONNECT_TIMEOUT"]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-5"])
def test_environment_numbers_are_refused_with_the_variable_named(tmp_path: Path, variable: str, value: str) -> None:
    from support.packages import make_package

    package = make_package(tmp_path / "out", "tool")
    env = {**os.environ, variable: value}
    if variable == "CONDAFARM_CONNECT_TIMEOUT":
        args = ["ls", "s3://condafarm-test/none", "--endpoint-url", "http://127.0.0.1:9"]
    else:
        assert run_cli("init", str(tmp_path / "channel")).returncode == 0
        args = ["publish", str(package), "--to", str(tmp_path / "channel")]
    result = run_cli(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    "flags", [["--keep", "nan"], ["--keep", "2", "--newer-than", "inf"], ["--keep", "2", "--grace-hours", "-1"]]
)
def test_worker_prune_parameters_refuse_nan_and_negative_values(tmp_path: Path, flags: list[str]) -> None:
    result = subprocess.run(
        [WORKER, "maintain", "prune", "--channel", str(tmp_path / "ch"), *flags],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "openjd_fail: prune:" in result.stdout
