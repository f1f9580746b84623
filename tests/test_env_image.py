"""`env image`: OCI images of environments, built without Docker or root, judged by real tools from Debian's
packages: pushed to a local docker-registry, read with `skopeo inspect`, copied back with `skopeo copy`, unpacked
with `umoci unpack` and the environment's command run from the unpacked root filesystem."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.cli import run_cli
from support.environments import folder_channel
from support.registry import HostileRegistry, local_registry, require_tools, run, skopeo

pytestmark = pytest.mark.posix("runs the image's sh command on the host")


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    return folder_channel(tmp_path / "channel")


def create(prefix: Path, channel: Path, packages: str, cache: Path) -> Path:
    args = ["--packages", packages, "--channels", str(channel), "--cache-dir", str(cache)]
    created = run_cli("env", "create", str(prefix), *args)
    assert created.returncode == 0, created.stderr
    return prefix


def image(prefix: Path, output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli("env", "image", str(prefix), str(output), *args)
    assert result.returncode == 0, result.stderr
    return result


def layers(layout: Path) -> list[str]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_bytes())
    return [layer["digest"] for layer in manifest["layers"]]


def test_image_pushed_to_a_registry_is_read_copied_unpacked_and_runs(channel: Path, tmp_path: Path) -> None:
    require_tools("skopeo", "umoci")
    prefix = create(tmp_path / "env", channel, "render-tool", tmp_path / "cache")
    with local_registry(tmp_path / "registry") as registry:
        reference = f"{registry}/render/env:1"
        pushed = image(prefix, tmp_path / "layout", "--tag", "1", "--push", reference)
        assert "4 blob(s) uploaded" in pushed.stdout and "0 already there" in pushed.stdout  # 3 layers, config
        assert "requests: HEAD 4, POST 4, PUT 5" in pushed.stdout  # PUT: 4 blobs and the manifest

        inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{reference}"))
        assert inspected["Labels"]["org.condafarm.request"] == "render-tool"
        assert inspected["Labels"]["org.condafarm.channels"] == str(channel)
        assert len(inspected["Layers"]) == 3
        env = dict(item.split("=", 1) for item in inspected["Env"])
        assert env["PATH"].startswith("/opt/env/bin:") and env["CONDA_PREFIX"] == "/opt/env"
        assert env["RENDER_LIC_FILE"] == "/opt/env/etc/lic.dat"  # from the package's activate.d script

        skopeo("copy", "--src-tls-verify=false", f"docker://{reference}", f"oci:{tmp_path / 'copied'}:1")
    run("umoci", "unpack", "--rootless", "--image", f"{tmp_path / 'copied'}:1", tmp_path / "bundle")
    root = tmp_path / "bundle" / "rootfs"
    assert (root / "opt" / "env" / "etc" / "render-tool.cfg").read_text() == "home=/opt/env\n"
    tool = subprocess.run([str(root / "opt/env/bin/render-tool")], capture_output=True, text=True, check=True)
    assert tool.stdout.strip() == "render-tool 1.0 build 0"


def test_a_package_is_the_same_layer_in_every_image_and_is_pushed_once(channel: Path, tmp_path: Path) -> None:
    first = create(tmp_path / "one" / "env", channel, "render-tool", tmp_path / "cache")
    second = create(tmp_path / "another-place" / "env", channel, "render-tool", tmp_path / "cache")
    image(first, tmp_path / "first")
    image(second, tmp_path / "second")
    # render-tool embeds its prefix; at the image prefix it is the same bytes, wherever the environment was
    assert layers(tmp_path / "first")[:2] == layers(tmp_path / "second")[:2]
    with local_registry(tmp_path / "registry") as registry:
        run_cli("env", "image", str(first), str(tmp_path / "pushed-1"), "--push", f"{registry}/render/env:1")
        again = image(second, tmp_path / "pushed-2", "--push", f"{registry}/render/env:2")
    # only the metadata layer and the config are new; each package layer cost one HEAD
    assert "2 blob(s) uploaded" in again.stdout and "2 already there" in again.stdout
    assert "requests: HEAD 4, POST 2, PUT 3" in again.stdout


def test_image_over_a_base_image_and_as_an_oci_archive(channel: Path, tmp_path: Path) -> None:
    require_tools("skopeo")
    prefix = create(tmp_path / "env", channel, "render-lic", tmp_path / "cache")
    image(prefix, tmp_path / "base", "--tag", "base")
    image(prefix, tmp_path / "image.tar", "--base", f"{tmp_path / 'base'}:base", "--entrypoint", "render-tool -v")
    inspected = json.loads(skopeo("inspect", f"oci-archive:{tmp_path / 'image.tar'}"))
    assert inspected["Layers"][:2] == layers(tmp_path / "base")
    assert len(inspected["Layers"]) == 4
    config = json.loads(skopeo("inspect", "--config", f"oci-archive:{tmp_path / 'image.tar'}"))
    assert config["config"]["Entrypoint"] == ["render-tool", "-v"]

    damaged = tmp_path / "base" / "blobs" / "sha256" / layers(tmp_path / "base")[0].split(":")[1]
    damaged.write_bytes(damaged.read_bytes() + b"x")
    refused = run_cli("env", "image", str(prefix), str(tmp_path / "out"), "--base", f"{tmp_path / 'base'}:base")
    assert refused.returncode == 2 and "does not match its digest" in refused.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("out*"))


def test_image_refuses_what_it_cannot_make(channel: Path, tmp_path: Path) -> None:
    prefix = create(tmp_path / "env", channel, "render-tool", tmp_path / "cache")
    relative = run_cli("env", "image", str(prefix), str(tmp_path / "x"), "--image-prefix", "opt/env")
    assert relative.returncode == 2 and "must be an absolute POSIX path" in relative.stderr
    (tmp_path / "taken").mkdir()
    taken = run_cli("env", "image", str(prefix), str(tmp_path / "taken"))
    assert taken.returncode == 2 and "already exists" in taken.stderr
    bad = run_cli("env", "image", str(prefix), str(tmp_path / "y"), "--push", "no-registry")
    assert bad.returncode == 2 and "is not HOST[:PORT]/NAME[:TAG]" in bad.stderr and not (tmp_path / "y").exists()
    shutil.rmtree(prefix / "conda-meta")
    missing = run_cli("env", "image", str(prefix), str(tmp_path / "z"))
    assert missing.returncode == 2 and "not an environment condafarm created" in missing.stderr


def test_push_to_a_registry_that_wants_a_password_uses_skopeo_login(channel: Path, tmp_path: Path) -> None:
    require_tools("skopeo")
    prefix = create(tmp_path / "env", channel, "render-lic", tmp_path / "cache")
    image(prefix, tmp_path / "layout")
    auth_file = tmp_path / "auth.json"
    with local_registry(tmp_path / "registry", user=("artist", "s3cret pass")) as registry:
        reference = f"{registry}/render/env:1"
        push = ["env", "image", str(prefix), str(tmp_path / "again"), "--push", reference]
        denied = run_cli(*push, env={**os.environ, "REGISTRY_AUTH_FILE": str(auth_file)})
        assert denied.returncode == 4 and f"skopeo login {registry}" in denied.stderr
        skopeo("login", "--tls-verify=false", "--authfile", auth_file, "-u", "artist", "-p", "s3cret pass", registry)
        shutil.rmtree(tmp_path / "again")
        pushed = run_cli(*push, env={**os.environ, "REGISTRY_AUTH_FILE": str(auth_file)})
        assert pushed.returncode == 0, pushed.stderr
        assert "s3cret" not in pushed.stdout + pushed.stderr
        inspected = skopeo("inspect", "--tls-verify=false", "--authfile", auth_file, f"docker://{reference}")
        assert json.loads(inspected)["Labels"]["org.condafarm.request"] == "render-lic"


def test_push_sends_credentials_only_to_the_registry_not_where_its_answers_point(channel: Path, tmp_path: Path) -> None:
    prefix = create(tmp_path / "env", channel, "render-lic", tmp_path / "cache")
    elsewhere = HostileRegistry()
    with elsewhere.serving() as other:
        registry = HostileRegistry(upload_to=other)
        with registry.serving() as host:
            auth_file = tmp_path / "auth.json"
            auth_file.write_text(json.dumps({"auths": {host: {"auth": base64.b64encode(b"artist:s3cret").decode()}}}))
            push = ["env", "image", str(prefix), str(tmp_path / "layout"), "--push", f"{host}/render/env:1"]
            pushed = run_cli(*push, env={**os.environ, "REGISTRY_AUTH_FILE": str(auth_file)})
    assert pushed.returncode == 0, pushed.stderr
    assert registry.authorizations[host]  # the registry asked for the credentials and got them
    assert elsewhere.authorizations == {}  # the upload host it named did not


def test_push_to_a_registry_that_trickles_its_answers_ends_at_the_deadline(channel: Path, tmp_path: Path) -> None:
    prefix = create(tmp_path / "env", channel, "render-lic", tmp_path / "cache")
    registry = HostileRegistry(trickle=0.05)  # a byte every 50 ms: never silent for CONDAFARM_READ_TIMEOUT
    with registry.serving() as host:
        push = ["env", "image", str(prefix), str(tmp_path / "layout"), "--push", f"{host}/render/env:1"]
        limits = {"CONDAFARM_DEADLINE": "2", "CONDAFARM_READ_TIMEOUT": "1"}
        pushed = run_cli(*push, env={**os.environ, **limits}, timeout=60)
    assert pushed.returncode == 3 and "CONDAFARM_DEADLINE" in pushed.stderr, pushed.stderr
