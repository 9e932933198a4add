"""Archive download: resume with an HTTP Range request, MD5 check, safe extraction (local server)."""

import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from speechssl.data.download import download, extract

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class RangeHandler(http.server.BaseHTTPRequestHandler):
    ranges: list = []

    def do_GET(self):
        start = 0
        header = self.headers.get("Range")
        RangeHandler.ranges.append(header)
        if header:
            start = int(header.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD) - start))
        self.end_headers()
        self.wfile.write(PAYLOAD[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    RangeHandler.ranges = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/archive.tar.gz"
    httpd.shutdown()


def test_download_resumes_a_partial_file_and_verifies_md5(server, tmp_path):
    target = tmp_path / "archive.tar.gz"
    (tmp_path / "archive.tar.gz.part").write_bytes(PAYLOAD[:300_000])  # an interrupted earlier run
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    assert download(server, target, md5, progress=False) == target
    assert target.read_bytes() == PAYLOAD
    assert RangeHandler.ranges == ["bytes=300000-"]  # only the rest was fetched
    assert download(server, target, md5, progress=False) == target  # present and verified: no request
    assert len(RangeHandler.ranges) == 1


def test_a_wrong_checksum_is_an_error_and_leaves_nothing_behind(server, tmp_path):
    target = tmp_path / "archive.tar.gz"
    with pytest.raises(ValueError, match="differs from the published"):
        download(server, target, "0" * 32, progress=False)
    assert not target.exists() and not (tmp_path / "archive.tar.gz.part").exists()


def test_extract_refuses_members_that_escape_the_destination(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(tarfile.TarError):
        extract(archive, tmp_path / "dest")
    assert not (tmp_path / "outside.txt").exists()
