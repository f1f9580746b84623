"""What an index run did, per subdir and for the channel: for the CLI, the worker plugin and tests."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SubdirReport:
    """What one index run did (or, with dry_run, would do) to one subdir."""

    subdir: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # filename -> reason
    unchanged: int = 0
    wrote: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class IndexReport:
    channel: str
    subdirs: list[SubdirReport]
    seconds: float
    dry_run: bool
    requests: dict[str, int] = field(default_factory=dict)

    def total(self, what: str) -> int:
        """How many files were added, updated, removed, skipped or unchanged over all subdirs."""
        if what == "unchanged":
            return sum(s.unchanged for s in self.subdirs)
        return sum(len(getattr(s, what)) for s in self.subdirs)

    def summary(self) -> str:
        verb = "would be" if self.dry_run else ""
        parts = [
            f"{self.total('added')} added",
            f"{self.total('updated')} updated",
            f"{self.total('removed')} removed",
            f"{self.total('skipped')} skipped",
            f"{self.total('unchanged')} unchanged",
        ]
        prefix = f"{self.channel}: " + (f"{verb} " if verb else "")
        return f"{prefix}{', '.join(parts)} in {len(self.subdirs)} subdirs, {self.seconds:.2f}s"
