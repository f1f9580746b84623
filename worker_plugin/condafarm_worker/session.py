"""What a worker host tells an action about its session: Deadline ids and where credentials come from."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

_IDS = ("farm", "fleet", "queue", "job", "session", "worker")


@dataclass(frozen=True)
class SessionInfo:
    """The `DEADLINE_*_ID` variables the worker agent sets, and the AWS profile that carries the queue role.

    On a Deadline Cloud worker the queue role arrives as `AWS_PROFILE` (plus `AWS_CONFIG_FILE` with a
    `credential_process`), so condafarm's boto3 and py-rattler clients pick it up with no flags. Only the
    profile's *name* is kept, never a key.
    """

    ids: Mapping[str, str]
    aws_profile: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SessionInfo:
        env = os.environ if environ is None else environ
        ids = {name: env[f"DEADLINE_{name.upper()}_ID"] for name in _IDS if env.get(f"DEADLINE_{name.upper()}_ID")}
        return cls(ids=ids, aws_profile=env.get("AWS_PROFILE") or None)

    @property
    def on_deadline(self) -> bool:
        return "session" in self.ids

    def describe(self) -> str:
        """One line for the log: which session this is and how it authenticates."""
        where = ", ".join(f"{k} {v}" for k, v in self.ids.items()) if self.ids else "a local OpenJD session"
        if self.aws_profile:
            creds = f"credentials from AWS profile {self.aws_profile!r}" + (
                " (the queue role)" if self.on_deadline else ""
            )
        else:
            creds = "credentials from the default AWS chain"
        return f"{where}; {creds}"
