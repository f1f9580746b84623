"""docs: what README.md and docs/*.md say about options, parameters and actions is what the code has: every option
of the env commands, every S3 option, every maintain_channel parameter and action."""

from __future__ import annotations

import argparse
import re

import pytest
import yaml
from support import ROOT

from condafarm.cli import build_parser


def _subcommand(*path: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _long_options(parser: argparse.ArgumentParser, group: str | None = None) -> set[str]:
    actions = parser._actions
    if group is not None:
        actions = next(g for g in parser._action_groups if g.title == group)._group_actions
    return {
        o
        for a in actions
        for o in a.option_strings
        if o.startswith("--") and o not in ("--help", "--verbose", "--quiet")
    }


def _named(option: str, text: str) -> bool:
    return re.search(re.escape(option) + r"(?![\w-])", text) is not None


@pytest.mark.parametrize("command", ["create", "enter", "exit"])
def test_docs_environments_name_every_option_of_the_env_commands(command: str) -> None:
    text = (ROOT / "docs" / "environments.md").read_text()
    missing = sorted(o for o in _long_options(_subcommand("env", command)) if not _named(o, text))
    assert not missing, f"docs/environments.md lacks env {command} {missing}"


@pytest.mark.parametrize("doc", ["README.md", "docs/environments.md", "docs/build.md"])
def test_every_s3_option_list_is_whole(doc: str) -> None:
    options = _long_options(_subcommand("ls"), "S3 options (for s3:// channels)")
    assert {"--single-writer", "--addressing-style", "--endpoint-url"} <= options
    text = (ROOT / doc).read_text()
    assert not sorted(o for o in options if not _named(o, text))


def test_docs_farm_names_every_maintain_channel_parameter_and_action() -> None:
    template = yaml.safe_load((ROOT / "job_bundles" / "maintain_channel" / "template.yaml").read_text())
    text = (ROOT / "docs" / "farm.md").read_text()
    names = [p["name"] for p in template["parameterDefinitions"]]
    actions = next(p for p in template["parameterDefinitions"] if p["name"] == "Action")["allowedValues"]
    assert not [n for n in names if f"`{n}`" not in text], "docs/farm.md lacks maintain_channel parameters"
    row = next(line for line in text.splitlines() if line.startswith("| `job_bundles/maintain_channel`"))
    assert not [a for a in actions if f"`{a}`" not in row], "docs/farm.md's table lacks maintain_channel actions"
