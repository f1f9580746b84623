"""An environment for one OpenJD job: enter and exit it, the artifacts it leaves, job records."""

from __future__ import annotations

from .job_record import JobRecords, enter_for_job
from .session import Entered, enter_environment, exit_environment

__all__ = [
    "Entered",
    "JobRecords",
    "enter_environment",
    "enter_for_job",
    "exit_environment",
]
