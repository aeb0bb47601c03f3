"""Copy a job's results from KIE's short-lived links into our object store.

KIE keeps files about 14 days (its own docs also say links may expire in 24 h),
so every delivered result is archived: "send again" from the history then works
from our copy. Keys derive from the job, so archiving twice stores once.
"""

from __future__ import annotations

import mimetypes
import posixpath
import tempfile
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from shared.storage.port import ObjectStore, ObjectStoreError

SPOOL_IN_MEMORY_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ArchivedResult:
    key: str
    size_bytes: int
    content_type: str
    source_url: str


class ResultTooLarge(ObjectStoreError):
    def __init__(self, url: str, max_bytes: int) -> None:
        super().__init__(f"{url} is larger than {max_bytes} bytes", retryable=False)


def result_key(job_id: str, index: int, url: str, content_type: str) -> str:
    extension = posixpath.splitext(urlsplit(url).path)[1].lower()
    if not extension or len(extension) > 6:
        extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
    return f"results/{job_id}/{index}{extension}"


def archive_results(
    store: ObjectStore,
    http: httpx.Client,
    job_id: str,
    urls: list[str],
    *,
    max_bytes: int,
) -> list[ArchivedResult]:
    """Archive each URL once; what is already stored for this job is kept as it is."""
    archived = []
    for index, url in enumerate(urls):
        archived.append(_archive_one(store, http, job_id, index, url, max_bytes))
    return archived


def _archive_one(
    store: ObjectStore, http: httpx.Client, job_id: str, index: int, url: str, max_bytes: int
) -> ArchivedResult:
    guessed_type = mimetypes.guess_type(urlsplit(url).path)[0] or "application/octet-stream"
    # The key is known before downloading, so a repeated archive finds the first copy.
    key = result_key(job_id, index, url, guessed_type)
    known = store.head(key)
    if known is not None:
        return ArchivedResult(known.key, known.size_bytes, known.content_type, url)
    try:
        with http.stream("GET", url, follow_redirects=True) as response:
            if response.status_code != 200:
                raise ObjectStoreError(
                    f"GET {url}: HTTP {response.status_code}",
                    retryable=response.status_code >= 500 or response.status_code == 429,
                )
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise ResultTooLarge(url, max_bytes)
            content_type = response.headers.get("Content-Type", guessed_type).split(";")[0]
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
                size = 0
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:  # a server may lie about, or omit, its length
                        raise ResultTooLarge(url, max_bytes)
                    spool.write(chunk)
                spool.seek(0)
                stored = store.put_file(key, spool, content_type)  # type: ignore[arg-type]
    except httpx.HTTPError as error:
        raise ObjectStoreError(f"GET {url}: {error}", retryable=True) from None
    except OSError as error:
        # The instance's disk (in memory on Cloud Functions) cannot take the file: the
        # result goes out from KIE's links instead of failing the delivery on every retry.
        raise ObjectStoreError(f"spool {url}: {error}", retryable=False) from None
    return ArchivedResult(stored.key, stored.size_bytes, stored.content_type, url)
