"""redact: no secret reaches a log line or an error message, at any verbosity."""

from __future__ import annotations

import os
import subprocess

from support.cli import run_cli

from condafarm.redaction import redact

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENvalue1234567890"


def _ls_unreachable(endpoint: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    """`condafarm ls` of a bucket behind `endpoint`, where nothing listens."""
    args = ["--endpoint-url", endpoint, "--force-path-style", "--region", "us-east-1", *flags]
    return run_cli("ls", "s3://bucket/Conda/Default", *args, env=env, timeout=120)


def test_redact_masks_url_passwords_tokens_signatures_and_secret_variables(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    text = (
        f"http://admin:hunter2@127.0.0.1:9/ {{'X-Amz-Security-Token': b'{TOKEN}', "
        "'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIA/20261201/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=0123456789abcdef'} also " + TOKEN
    )
    cleaned = redact(text)
    assert "hunter2" not in cleaned and TOKEN not in cleaned and "0123456789abcdef" not in cleaned
    assert "http://***@127.0.0.1:9/" in cleaned
    assert redact("https://conda.anaconda.org/t/ab-12345token/studio") == "https://conda.anaconda.org/t/***/studio"


def test_debug_logging_never_prints_the_session_token_or_secret_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYID0000",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    # Nothing listens on port 9: botocore logs the signed request (with the token header) before failing.
    result = _ls_unreachable("http://127.0.0.1:9", env, "-vv")
    assert result.returncode != 0
    assert "X-Amz-Security-Token" in result.stderr or "x-amz-security-token" in result.stderr.lower()
    assert TOKEN not in result.stderr and SECRET not in result.stderr and TOKEN not in result.stdout


def test_an_endpoint_password_is_not_echoed_in_errors() -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_EC2_METADATA_DISABLED": "true"}
    result = _ls_unreachable("http://user:s3cr3tpass@127.0.0.1:9", env)
    assert result.returncode != 0
    assert "s3cr3tpass" not in result.stderr + result.stdout
