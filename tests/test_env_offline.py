"""`env create/enter --offline`: an environment made only from its channels passes; any request or package URL
outside them fails the command with exit 10, naming it."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.cli import run_cli
from support.environments import env_with, openjd_env
from support.s3 import S3Endpoint
from support.upstream import make_upstream, reindex, serve

from condafarm import mirror_channel
from condafarm.mirror import MirrorSpec


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_upstream(tmp_path_factory.mktemp("upstream") / "channel", fillers=0)


@pytest.fixture
def upstream(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "upstream"))


@contextmanager
def redirecting(root: Path, prefix: str, to: str) -> Iterator[str]:
    """Serve `root` on 127.0.0.1, but redirect every path starting with `prefix` to the same path under `to`."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith(prefix):
                self.send_response(302)
                self.send_header("Location", to + self.path)
                self.end_headers()
                return
            super().do_GET()

        do_HEAD = do_GET

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def create(
    tmp_path: Path, channel: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    prefix = tmp_path / f"env-{len(list(tmp_path.glob('env-*')))}"
    return run_cli(
        "env", "create", str(prefix), "--packages", "renderapp", "--channels", channel, *extra,
        env=env or env_with(tmp_path / "cache"),
    )  # fmt: skip


@pytest.mark.posix("runs the installed shell script")
def test_an_environment_from_a_mirror_on_s3_passes_offline(
    upstream: Path, tmp_path: Path, s3: S3Endpoint, s3_channel: object
) -> None:
    with serve(upstream) as served:
        mirror_channel(s3_channel, MirrorSpec.checked(served.url, ["renderapp"], ["linux-64"]))  # type: ignore[arg-type]
    env = env_with(tmp_path / "cache", **{k: v for k, v in s3.env().items() if k.startswith("S3_")})
    channel = s3_channel.url  # type: ignore[attr-defined]
    created = create(tmp_path, channel, "--offline", env=env)
    assert created.returncode == 0, created.stderr
    session = tmp_path / "session"
    session.mkdir()
    entered = run_cli(
        "env", "enter", "--packages", "renderapp", "--channels", channel, "--offline", "True",
        "--session-dir", str(session), "--reuse", "session", env=env,
    )  # fmt: skip
    assert entered.returncode == 0, entered.stderr
    prefix = Path(openjd_env(entered.stdout)["CONDA_PREFIX"])
    ran = subprocess.run([str(prefix / "bin" / "renderapp")], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "renderapp 2.0 build 0"


def test_a_folder_channel_needs_no_network(upstream: Path, tmp_path: Path) -> None:
    created = create(tmp_path, str(upstream), "--offline")
    assert created.returncode == 0, created.stderr


def test_a_request_redirected_to_another_host_fails_naming_it(upstream: Path, tmp_path: Path) -> None:
    with (
        serve(upstream) as elsewhere,
        redirecting(upstream, "/noarch/", elsewhere.url) as url,  # same address, another port: another server
    ):
        plain = create(tmp_path, url, env=env_with(tmp_path / "plain-cache"))
        assert plain.returncode == 0, plain.stderr  # without --offline, the redirect is followed
        offline = create(tmp_path, url, "--offline")
    assert offline.returncode == 10, offline.stderr
    assert f"needed {elsewhere.url}/noarch/" in offline.stderr
    assert "which is not under its channels" in offline.stderr and "condafarm mirror" in offline.stderr


def test_a_package_url_outside_the_channels_fails_before_any_download(upstream: Path, tmp_path: Path) -> None:
    reindex(upstream, shards=False)
    path = upstream / "noarch" / "repodata.json"
    repodata = json.loads(path.read_text())
    repodata["info"]["base_url"] = "http://127.0.0.1:9/elsewhere/"
    path.write_text(json.dumps(repodata))
    (upstream / "noarch" / "repodata.json.zst").unlink()
    with serve(upstream) as served:
        offline = create(tmp_path, served.url, "--offline")
        downloads = [p for p in served.paths if p.endswith(".conda")]
    assert offline.returncode == 10, offline.stderr
    assert "needed http://127.0.0.1:9/elsewhere/" in offline.stderr
    assert downloads == []


def test_the_render_queue_environment_passes_the_offline_parameter() -> None:
    import yaml
    from support import ROOT

    template = yaml.safe_load((ROOT / "queue_environments" / "render_conda.yaml").read_text())
    args = template["environment"]["script"]["actions"]["onEnter"]["args"]
    assert args[args.index("--offline") + 1] == "{{Param.CondaOffline}}"
    [parameter] = [p for p in template["parameterDefinitions"] if p["name"] == "CondaOffline"]
    assert parameter["default"] == "False"
