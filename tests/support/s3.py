"""A local S3-compatible server (moto) so the embedded Tansu broker can keep its data.

Tansu's `s3://` storage engine keeps topics, records and committed offsets in a bucket; with
this server holding the bucket, a broker killed and started again finds them all.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self

# Any key is accepted by moto; these only have to be present and the same everywhere.
_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "incidentd-test",
    "AWS_SECRET_ACCESS_KEY": "incidentd-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class LocalS3:
    """moto's S3 on 127.0.0.1 (an ephemeral port, threads of this process) with one bucket."""

    def __init__(self, bucket: str = "tansu") -> None:
        self.bucket = bucket
        self._server: Any = None
        self._werkzeug_level = logging.NOTSET

    @property
    def endpoint(self) -> str:
        """Base URL of the server."""
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def storage_engine(self) -> str:
        """Tansu's `--storage-engine` for the bucket."""
        return f"s3://{self.bucket}/"

    def env(self) -> dict[str, str]:
        """What Tansu's object store reads to reach the bucket (it adds ETag conditional puts)."""
        return {**_CREDENTIALS, "AWS_ENDPOINT": self.endpoint, "AWS_ALLOW_HTTP": "true"}

    def start(self) -> None:
        """Start the server and create the bucket."""
        import boto3
        from moto.server import ThreadedMotoServer

        # Werkzeug logs every request at INFO: thousands per test, kept by pytest's log capture.
        werkzeug = logging.getLogger("werkzeug")
        self._werkzeug_level = werkzeug.level
        werkzeug.setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=_CREDENTIALS["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(Bucket=self.bucket)

    def close(self) -> None:
        """Stop the server (its data goes with it)."""
        if self._server is not None:
            self._server.stop()
            self._server = None
            logging.getLogger("werkzeug").setLevel(self._werkzeug_level)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
