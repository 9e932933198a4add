"""Fetching corpus archives: resumable HTTP download, MD5 verification, safe extraction.

An interrupted download leaves ``<name>.part``; the next call asks the server for the rest
(an HTTP Range request) instead of starting over. A finished file is checked against its
published MD5 before it is renamed into place, so a present archive is a verified one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def md5sum(path: str | os.PathLike) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, destination: str | os.PathLike, md5: str | None = None, retries: int = 5,
             progress: bool = True) -> Path:
    """``url`` -> ``destination`` (a file path); resumes a partial download, verifies ``md5``."""
    from tqdm import tqdm

    destination = Path(destination)
    if destination.exists():
        if md5 is None or md5sum(destination) == md5:
            log.info("%s: present%s", destination, " and verified" if md5 else "")
            return destination
        raise ValueError(f"{destination}: MD5 differs from the published {md5}; delete it to download again")
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    for attempt in range(1, retries + 1):
        start = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                if start and response.status != 206:  # the server ignored the range: start over
                    start = 0
                total = start + int(response.headers.get("Content-Length", 0))
                with open(part, "ab" if start else "wb") as out, tqdm(
                    total=total or None, initial=start, unit="B", unit_scale=True, desc=destination.name,
                    disable=not progress,
                ) as bar:
                    for block in iter(lambda: response.read(CHUNK), b""):
                        out.write(block)
                        bar.update(len(block))
            break
        except urllib.error.HTTPError as error:
            if error.code == 416:  # range not satisfiable: the part file is already complete
                break
            if attempt == retries:
                raise
            log.warning("%s: %s (attempt %d/%d)", url, error, attempt, retries)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt == retries:
                raise
            log.warning("%s: %s (attempt %d/%d), resuming", url, error, attempt, retries)
        time.sleep(min(60, 5 * attempt))
    if md5 is not None:
        found = md5sum(part)
        if found != md5:
            part.unlink()
            raise ValueError(f"{url}: downloaded MD5 {found} differs from the published {md5}; the file was removed")
    os.replace(part, destination)
    return destination


def extract(archive: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Unpack a tar archive (gz/bz2/xz) into ``destination``; members may not escape it."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    log.info("extracting %s into %s", archive, destination)
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    return destination
