"""What the application asks of object storage (stdlib only: imported on cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol


class ObjectStoreError(Exception):
    """Storage refused or failed an operation; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    content_type: str


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> StoredObject: ...

    def put_file(self, key: str, file: BinaryIO, content_type: str) -> StoredObject:
        """Stream a file of any size (multipart where the service needs it)."""
        ...

    def get(self, key: str) -> bytes: ...

    def head(self, key: str) -> StoredObject | None:
        """The object's size and type, or None when there is no such object."""
        ...

    def presigned_get(self, key: str, expires_s: int = 3600) -> str:
        """A URL anyone can GET for `expires_s` seconds (a download link past Telegram's limits)."""
        ...
