"""SigV4 headers for plain HTTP reads of an S3 channel, signed with the credentials boto3 resolves."""

from __future__ import annotations

from urllib.parse import urlsplit

import botocore.exceptions
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest

from ..location import Channel
from .client import make_client, make_session
from .errors import translate_error


class HttpSigner:
    """SigV4 headers for plain HTTP GETs of a channel's objects, for HTTP clients that cannot sign S3 requests.

    py-rattler's own S3 support presigns URLs with its own credential chain; handing it signed headers instead
    keeps credentials resolved here, by boto3 (profiles, SSO, `credential_process`, roles), refreshed as they
    expire, and works wherever header authentication does. `root_url` is the channel's HTTP address (endpoint,
    addressing style and region as boto3 resolves them); `headers(host, path)` signs a GET of that URL.
    """

    def __init__(self, channel: Channel) -> None:
        session = make_session(channel.s3)
        client = make_client(channel, session)
        credentials = session.get_credentials()
        if credentials is None:
            raise translate_error(botocore.exceptions.NoCredentialsError(), "GetObject", channel, None)
        self._credentials = credentials
        self.region = str(client.meta.region_name or "us-east-1")
        # boto3 builds object URLs for this endpoint, addressing style and region; the channel root is one of
        # them minus the probe name (presigning is local: no request is made).
        probe = channel.key("probe")
        url = urlsplit(client.generate_presigned_url("get_object", Params={"Bucket": channel.bucket, "Key": probe}))
        self.scheme, self.netloc = url.scheme, url.netloc
        self.root_path = url.path[: -len("probe")]
        self.root_url = f"{self.scheme}://{self.netloc}{self.root_path}"

    def headers(self, host: str, path: str) -> dict[str, str] | None:
        """Headers that authenticate `GET path` on `host`, or None when the URL is not in this channel."""
        if host != self.netloc.rsplit(":", 1)[0] or not path.startswith(self.root_path):
            return None
        request = AWSRequest(method="GET", url=f"{self.scheme}://{self.netloc}{path}")
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        S3SigV4Auth(self._credentials.get_frozen_credentials(), "s3", self.region).add_auth(request)
        return {name: value for name, value in request.headers.items() if name.lower() != "host"}
