"""ObjectStore over the S3 API with boto3: AWS S3, Google Cloud Storage's interoperability
endpoint, Yandex Object Storage and MinIO differ only in endpoint, region and keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO

from shared.storage.port import ObjectStoreError, StoredObject

if TYPE_CHECKING:
    from shared.config import Settings

# Errors after which the same request can succeed (throttling, a server's bad moment).
_RETRYABLE_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}
)


class S3ObjectStore:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        if client is None:
            # Imported here: boto3 costs a cold start ~0.3 s, and only delivery needs it.
            import boto3
            from botocore.config import Config

            options: dict[str, Any] = {
                "signature_version": "s3v4",
                "retries": {"max_attempts": 3, "mode": "standard"},
                # Path style works with every S3-compatible service we name.
                "s3": {"addressing_style": "path"},
            }
            try:
                # boto3 ≥ 1.36 adds CRC32 checksums (aws-chunked trailers) to every upload
                # by default; Google Cloud Storage's S3 API refuses them (412 on
                # CompleteMultipartUpload). Checksums only where an operation needs one.
                config = Config(
                    **options,
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
            except TypeError:  # an older botocore (Lambda's own) adds no checksums anyway
                config = Config(**options)
            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=config,
            )
        self._s3 = client

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        if not settings.object_store_bucket:
            raise ObjectStoreError("OBJECT_STORE_BUCKET is not set", retryable=False)
        return cls(
            settings.object_store_bucket,
            endpoint_url=settings.object_store_endpoint_url,
            region=settings.object_store_region or settings.aws_region,
            access_key_id=_secret(settings.object_store_access_key_id),
            secret_access_key=_secret(settings.object_store_secret_access_key),
        )

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        self._call("put_object", Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return StoredObject(key, len(data), content_type)

    def put_file(self, key: str, file: BinaryIO, content_type: str) -> StoredObject:
        from botocore.exceptions import BotoCoreError, ClientError

        start = file.tell()
        file.seek(0, 2)
        size = file.tell() - start
        file.seek(start)  # measured first: boto3 closes the file once it has sent it
        try:
            self._s3.upload_fileobj(file, self.bucket, key, ExtraArgs={"ContentType": content_type})
        except ClientError as error:
            raise _translate(error) from None
        except BotoCoreError as error:
            raise ObjectStoreError(f"upload {key}: {error}", retryable=True) from None
        return StoredObject(key, size, content_type)

    def get(self, key: str) -> bytes:
        body: bytes = self._call("get_object", Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def head(self, key: str) -> StoredObject | None:
        from botocore.exceptions import ClientError

        try:
            meta = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise _translate(error) from None
        return StoredObject(key, int(meta["ContentLength"]), str(meta.get("ContentType", "")))

    def presigned_get(self, key: str, expires_s: int = 3600) -> str:
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )
        return url

    def _call(self, operation: str, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._s3, operation)(**params)
        except ClientError as error:
            raise _translate(error) from None
        except BotoCoreError as error:  # connection and endpoint errors
            raise ObjectStoreError(f"{operation}: {error}", retryable=True) from None


def _translate(error: Any) -> ObjectStoreError:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return ObjectStoreError(f"S3 {code}: {error}", retryable=code in _RETRYABLE_CODES)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None
