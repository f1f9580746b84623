"""A stand-in for an Artifactory/Quetz/prefix.dev upload endpoint: records each request, answers 201.

Runs as its own process (py-rattler-build holds the GIL while it uploads, so an in-process server thread
would never answer): `python tests/support/upload_server.py LOGFILE` prints its port, then appends one JSON line per
request with method, path, the auth headers and the body's sha256.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def _record(self) -> None:
        body = self._chunked() if "chunked" in (self.headers.get("Transfer-Encoding") or "") else self._sized()
        entry = {
            "method": self.command,
            "path": self.path,
            "authorization": self.headers.get("Authorization"),
            "api_key": self.headers.get("X-API-Key"),
            "sha256": hashlib.sha256(body).hexdigest(),
            "size": len(body),
        }
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps(entry) + "\n")
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _sized(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _chunked(self) -> bytes:
        body = b""
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return body

    do_PUT = do_POST = _record

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
