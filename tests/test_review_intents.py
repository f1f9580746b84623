"""Review of the group-commit redesign (issue 15): ready marks left by a dead publisher outlive `condafarm index`,
and the next group commit re-applies them blindly, undoing a yank or naming a removed file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.packages import make_package

from condafarm import Channel, check_channel, index_channel, init_channel, parse_channel, publish, remove, yank
from condafarm.channel import publish as publish_module
from condafarm.channel.store import load_repodata
from condafarm.storage import open_storage


class Died(BaseException):
    """The publisher was killed."""


@pytest.fixture
def folder(tmp_path: Path) -> Callable[[], Channel]:
    root = tmp_path / "channel"
    init_channel(parse_channel(str(root)))
    return lambda: parse_channel(str(root))


def _die_after_ready_mark(channel: Channel, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Publish `path` but die after its ready mark, before any commit (killed at STEPS[0] of test_group_commit)."""

    def killed(*args: object, **kwargs: object) -> list[str]:
        raise Died

    with monkeypatch.context() as m:
        m.setattr(publish_module, "commit_together", killed)
        with pytest.raises(Died):
            publish(channel, [path])


def test_a_dead_publishers_ready_mark_does_not_bring_back_a_removed_file(
    folder: Callable[[], Channel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = make_package(tmp_path / "a", "bad")
    _die_after_ready_mark(folder(), bad, monkeypatch)
    index_channel(folder())  # the scheduled index run indexes the dead publisher's file, as docs/publish.md says
    assert bad.name in load_repodata(open_storage(folder()), "noarch")[0].records()
    remove(folder(), [bad.name], yes=True)  # a bad build: record, then file gone
    publish(folder(), [make_package(tmp_path / "b", "next")])  # its group commit re-commits the stale ready mark
    records = load_repodata(open_storage(folder()), "noarch")[0].records()
    assert bad.name not in records, "repodata names a file that `remove` deleted"
    assert check_channel(folder()).ok


def test_a_dead_publishers_ready_mark_does_not_undo_a_yank(
    folder: Callable[[], Channel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = make_package(tmp_path / "a", "bad")
    _die_after_ready_mark(folder(), bad, monkeypatch)
    index_channel(folder())
    yank(folder(), [bad.name])
    publish(folder(), [make_package(tmp_path / "b", "next")])
    repodata = load_repodata(open_storage(folder()), "noarch")[0]
    assert bad.name in repodata.removed and repodata.get(bad.name) is None, "a yank was undone by a publish"
