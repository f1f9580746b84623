"""No writer follows a symlink: not out of the folder it reads (a planted link to a secret), not into a file it
writes (a planted link to a shell profile)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run_cli

from condafarm.errors import AlreadyExists
from condafarm.safe_files import copy_folder, write_file

META = "package:\n  name: tool\n  version: '1.0'\nbuild:\n  script: echo hi\n"


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    folder = tmp_path / "recipe"
    folder.mkdir()
    (folder / "meta.yaml").write_text(META)
    (folder / "build.sh").write_text("echo from the recipe\n")
    return folder


@pytest.mark.parametrize("name", ["recipe.yaml", "variants.yaml"])
def test_convert_recipe_never_writes_through_a_dangling_symlink(recipe: Path, tmp_path: Path, name: str) -> None:
    (recipe / "conda_build_config.yaml").write_text("python:\n  - '3.12'\n")
    profile = tmp_path / "home" / ".profile"
    profile.parent.mkdir()
    (recipe / name).symlink_to(profile)
    refused = run_cli("convert-recipe", str(recipe))
    assert refused.returncode == 2 and f"{recipe / name} exists" in refused.stderr, refused.stderr
    assert not profile.exists()
    forced = run_cli("convert-recipe", str(recipe), "--force")
    assert forced.returncode == 0, forced.stderr
    assert not profile.exists() and not (recipe / name).is_symlink() and (recipe / name).is_file()


def test_convert_recipe_force_replaces_the_symlink_not_the_file_it_leads_to(recipe: Path, tmp_path: Path) -> None:
    profile = tmp_path / ".bashrc"
    profile.write_text("export PATH=/usr/bin\n")
    (recipe / "recipe.yaml").symlink_to(profile)
    assert run_cli("convert-recipe", str(recipe), "--force").returncode == 0
    assert profile.read_text() == "export PATH=/usr/bin\n"
    assert "Converted by condafarm" in (recipe / "recipe.yaml").read_text()


def test_convert_recipe_into_an_existing_folder_replaces_files_only_with_force(recipe: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "build.sh").write_text("mine\n")
    refused = run_cli("convert-recipe", str(recipe), "--out", str(out))
    assert refused.returncode == 2 and "build.sh exists" in refused.stderr, refused.stderr
    assert (out / "build.sh").read_text() == "mine\n" and not (out / "recipe.yaml").exists()
    assert run_cli("convert-recipe", str(recipe), "--out", str(out), "--force").returncode == 0
    assert (out / "build.sh").read_text() == "echo from the recipe\n"


def test_a_symlinked_secret_in_the_recipe_folder_is_not_copied(recipe: Path, tmp_path: Path) -> None:
    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key = hush\n")
    (recipe / "credentials").symlink_to(secret)
    (recipe / "helper.sh").symlink_to("build.sh")  # a link inside the folder is fine
    result = run_cli("convert-recipe", str(recipe), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "out" / "credentials").exists()
    assert "credentials is a symlink out of" in result.stderr
    assert (tmp_path / "out" / "helper.sh").read_text() == "echo from the recipe\n"


def test_a_meta_yaml_that_is_a_symlink_out_of_its_folder_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "meta.yaml").write_text(META)
    (elsewhere / "id_rsa").write_text("PRIVATE KEY\n")
    folder = tmp_path / "recipe"
    folder.mkdir()
    (folder / "meta.yaml").symlink_to(elsewhere / "meta.yaml")
    result = run_cli("convert-recipe", str(folder), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "symlink out of" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_farm_files_force_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    assert run_cli("farm-files", "write", str(tmp_path / "farm")).returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    template = tmp_path / "farm" / "job_bundles" / "build_linux" / "template.yaml"
    template.unlink()
    template.symlink_to(victim)
    result = run_cli("farm-files", "write", str(tmp_path / "farm"), "--force")
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "keep me\n" and not template.is_symlink()


def test_write_file_replaces_a_symlink_and_refuses_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "outside"
    link = tmp_path / "session" / "condafarm-env.lock.txt"
    link.parent.mkdir()
    link.symlink_to(target)
    with pytest.raises(AlreadyExists):
        write_file(link, "x")
    write_file(link, "@EXPLICIT\n", overwrite=True)
    assert not target.exists() and link.read_text() == "@EXPLICIT\n" and not link.is_symlink()


def test_copy_folder_refuses_to_write_into_a_symlinked_folder(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "file").write_text("x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "sub").symlink_to(elsewhere)
    with pytest.raises(Exception, match="is a symlink"):
        copy_folder(source, target, overwrite=True)
    assert not (elsewhere / "file").exists()


#: Outputs of `env` commands, each made under a temporary name first: (command arguments after PREFIX, output).
OUTPUTS = {
    "export --pixi-lock": (["export", "{prefix}", "--pixi-lock", "{out}", "--name", "e"], "pixi.lock"),
    "pack": (["pack", "{prefix}", "{out}"], "env.tar.gz"),
    "pack --installer": (["pack", "{prefix}", "{out}", "--installer"], "env.sh"),
    "image (oci-archive)": (["image", "{prefix}", "{out}"], "env.tar"),
}


@pytest.mark.posix("plants a symlink")
@pytest.mark.parametrize("command", OUTPUTS.values(), ids=list(OUTPUTS))
def test_env_outputs_never_write_through_a_link_planted_at_their_partial_name(
    command: tuple[list[str], str], tmp_path: Path
) -> None:
    """A shared output folder: someone links OUT.partial to the user's shell profile before the command runs."""
    from support.environments import folder_channel

    channel, prefix = folder_channel(tmp_path / "channel"), tmp_path / "env"
    args = ["--packages", "render-tool", "--channels", str(channel), "--cache-dir", str(tmp_path / "cache")]
    assert run_cli("env", "create", str(prefix), *args).returncode == 0
    profile = tmp_path / "home" / ".profile"
    profile.parent.mkdir()
    profile.write_text("export PATH=/usr/bin\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    words, name = command
    out = shared / name
    (shared / f"{name}.partial").symlink_to(profile)
    result = run_cli("env", *(w.format(prefix=prefix, out=out) for w in words))
    assert result.returncode == 0, result.stderr
    assert profile.read_text() == "export PATH=/usr/bin\n"
    assert out.is_file() and not out.is_symlink()
