"""Publishing to servers that index packages themselves: the upload goes through py-rattler-build's client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import run_cli
from support.moto import end_process
from support.packages import make_package

from condafarm.channel.publish import prepare
from condafarm.channel.servers import Server, parse_server
from condafarm.errors import UsageError

UPLOAD_SERVER = Path(__file__).parent / "support" / "upload_server.py"


@pytest.fixture
def upload_endpoint(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen([sys.executable, str(UPLOAD_SERVER), str(log)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        yield int(proc.stdout.readline()), log
    finally:
        end_process(proc)  # type: ignore[arg-type]


def test_server_locations_parse() -> None:
    assert parse_server("prefix://studio-tools") == Server("prefix", "https://prefix.dev", "studio-tools")
    assert parse_server("anaconda://studio/dev") == Server("anaconda", "https://api.anaconda.org", "studio", "dev")
    assert parse_server("quetz+https://quetz.example/studio") == Server("quetz", "https://quetz.example", "studio")
    assert parse_server("artifactory+https://art.example/artifactory/api/conda/studio") == Server(
        "artifactory", "https://art.example/artifactory/api/conda", "studio"
    )
    with pytest.raises(UsageError, match="quetz"):
        parse_server("quetz://no-transport")
    # schemes are read without regard to case, as `classify` reads them when publish chooses an upload
    assert parse_server(" Quetz+HTTPS://quetz.example/studio ") == Server("quetz", "https://quetz.example", "studio")
    for not_a_server in ("prefix:studio-tools", "s3://studio-packages/x", "https://quetz.example/studio"):
        with pytest.raises(UsageError, match="is not a server location"):
            parse_server(not_a_server)


def test_artifactory_upload_uses_the_auth_file_token(upload_endpoint: tuple[int, Path], tmp_path: Path) -> None:
    port, log = upload_endpoint
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"127.0.0.1": {"BearerToken": "token-from-auth-file"}}))
    pkg = make_package(tmp_path, "tool")
    env = {**os.environ, "RATTLER_AUTH_FILE": str(auth)}
    target = f"artifactory+http://127.0.0.1:{port}/artifactory/api/conda/studio"
    result = run_cli("publish", str(pkg), "--to", target, env=env)
    assert result.returncode == 0, result.stderr
    assert "token-from-auth-file" not in result.stdout + result.stderr
    (request,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert request["method"] == "PUT" and request["path"] == "/artifactory/api/conda/studio/noarch/tool-1.0-h0_0.conda"
    assert request["authorization"] == "Bearer token-from-auth-file"
    assert request["sha256"] == prepare(pkg).hashes.sha256


def test_missing_server_credentials_are_one_line_and_nothing_is_sent(
    upload_endpoint: tuple[int, Path], tmp_path: Path
) -> None:
    port, log = upload_endpoint
    env = {**os.environ, "RATTLER_AUTH_FILE": str(tmp_path / "absent.json")}
    pkg = make_package(tmp_path, "tool")
    result = run_cli("publish", str(pkg), "--to", f"quetz+http://127.0.0.1:{port}/studio", env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "RATTLER_AUTH_FILE" in result.stderr
    assert not log.exists()


def test_a_bad_file_is_refused_before_any_upload(upload_endpoint: tuple[int, Path], tmp_path: Path) -> None:
    port, log = upload_endpoint
    bad = make_package(tmp_path, "tool")
    bad.write_bytes(b"not a zip")
    result = run_cli("publish", str(bad), "--to", f"artifactory+http://127.0.0.1:{port}/a/studio")
    assert result.returncode == 6 and "corrupt" in result.stderr
    assert not log.exists()
