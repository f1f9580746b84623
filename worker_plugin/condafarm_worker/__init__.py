"""condafarm on a Deadline Cloud / OpenJD worker host: the commands job templates run.

Each command turns an OpenJD session (template parameters, the session folder, `DEADLINE_*` variables, the
queue role through `AWS_PROFILE`) into one condafarm library call, reports through `openjd_*` stdout
messages, and on cancellation kills its child processes and leaves the channel valid.
"""

from __future__ import annotations

from .cancel import Cancelled, Supervisor, kill_children
from .messages import Messages
from .session import SessionInfo

__all__ = ["Cancelled", "Messages", "SessionInfo", "Supervisor", "kill_children"]
