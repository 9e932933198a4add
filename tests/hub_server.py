"""A stand-in for the Hugging Face hub on 127.0.0.1, for tests that set ``HF_ENDPOINT`` to it.

It answers the requests ``huggingface_hub.snapshot_download`` makes (huggingface_hub 0.2x-0.3x):

- ``GET /api/models/<org>/<name>/revision/<revision>``: the repository's commit and file list;
- ``HEAD`` and ``GET /<org>/<name>/resolve/<commit>/<file>``: a file's metadata, then its bytes.

An unknown repository answers 404 with ``X-Error-Code: RepoNotFound``, as the hub does.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path
from urllib.parse import unquote


class FakeHub:
    """Serve ``{"org/name": folder}`` until :meth:`close`; ``requests`` lists every path asked for."""

    def __init__(self, repos: dict[str, Path]):
        self.repos = {name: Path(folder) for name, folder in repos.items()}
        self.requests: list[str] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hub._answer(self, body=True)

            def do_HEAD(self):
                hub._answer(self, body=False)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def commit(repo: str) -> str:
        return hashlib.sha1(repo.encode()).hexdigest()  # 40 hex digits, as a git commit id

    def _answer(self, request: http.server.BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(request.path.split("?", 1)[0])
        self.requests.append(f"{request.command} {path}")
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo = "/".join(parts[2:4])
            if repo not in self.repos:
                return self._error(request, 404, "RepoNotFound")
            files = sorted(str(p.relative_to(self.repos[repo])) for p in self.repos[repo].rglob("*") if p.is_file())
            info = {"id": repo, "sha": self.commit(repo), "siblings": [{"rfilename": f} for f in files]}
            return self._send(request, json.dumps(info).encode(), {"Content-Type": "application/json"}, body)
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
            if repo not in self.repos:
                return self._error(request, 404, "RepoNotFound")
            file = self.repos[repo] / filename
            if not file.is_file():
                return self._error(request, 404, "EntryNotFound")
            data = file.read_bytes()
            headers = {"X-Repo-Commit": self.commit(repo), "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
            return self._send(request, data, headers, body)
        self._error(request, 404, "RepoNotFound")

    @staticmethod
    def _send(request, data: bytes, headers: dict[str, str], body: bool) -> None:
        request.send_response(200)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            request.send_header(key, value)
        request.end_headers()
        if body:
            request.wfile.write(data)

    @staticmethod
    def _error(request, status: int, code: str) -> None:
        request.send_response(status)
        request.send_header("X-Error-Code", code)
        request.send_header("Content-Length", "0")
        request.end_headers()
