"""AWS settings that keep tests and bench/ offline: fake keys, no profile, no config file, no metadata service."""

from __future__ import annotations

import os
from collections.abc import Mapping

#: The fake keys moto accepts, and nothing that could lead to a real account or the EC2 metadata service.
OFFLINE_AWS = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}

#: Variables that would point a client at another account or endpoint than the one a test chose.
FOREIGN_AWS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "S3_ENDPOINT_URL")


def offline_env(base: Mapping[str, str]) -> dict[str, str]:
    """`base` without the foreign AWS variables and with the offline ones."""
    env = {k: v for k, v in base.items() if k not in FOREIGN_AWS}
    env.update(OFFLINE_AWS)
    return env
