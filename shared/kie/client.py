"""KIE's HTTP API through httpx: create and query tasks, credits, download links, uploads.

KIE answers HTTP 200 with the outcome in the body's `code`, so every response
goes through `_data`, which turns the envelope into data or a typed KieError.
The same client talks to the simulator; only the base URLs differ.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import httpx

from shared.kie.errors import KieError, KieRejected, KieRetryable, error_for_code
from shared.kie.results import MalformedResult, TaskState, TaskStatus, message_of, parse_record
from shared.queue.backoff import retry_after_s
from shared.registry import KieRequest
from shared.tls import context_for


def _retry_after(response: httpx.Response) -> float | None:
    # Seconds or an HTTP date, finite and bounded: the queue's own reading of the header.
    return retry_after_s(response.headers.get("Retry-After"))


class KieClient:
    def __init__(
        self,
        *,
        base_url: str,
        upload_base_url: str,
        api_key: str,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"}
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        # Given a context, httpx does not load the CA bundle again for each client.
        self._api = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=context_for(base_url),
        )
        self._upload = httpx.Client(
            base_url=upload_base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=context_for(upload_base_url),
        )

    def close(self) -> None:
        self._api.close()
        self._upload.close()

    # --- the envelope --------------------------------------------------------------------
    def _send(self, client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            raise KieRetryable(504, f"timeout calling {path}: {error}") from None
        except httpx.TransportError as error:
            raise KieRetryable(503, f"cannot reach KIE for {path}: {error}") from None
        except httpx.HTTPError as error:  # a body that cannot be decoded, and the like
            raise KieRetryable(502, f"bad answer from KIE for {path}: {error}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise error_for_code(
                response.status_code,
                response.text[:200] or response.reason_phrase,
                _retry_after(response),
            )
        try:
            body = response.json()
        except ValueError:
            raise error_for_code(
                response.status_code if response.status_code >= 400 else 502,
                f"not JSON from {path}: {response.text[:200]!r}",
            ) from None
        if not isinstance(body, dict):
            raise KieRetryable(502, f"unexpected body from {path}")
        if "code" in body and body.get("code") != 200:
            code = body.get("code")
            # A 429 or 455 inside an HTTP 200 still comes with the header's hint.
            raise error_for_code(
                code if isinstance(code, int) else 500, message_of(body), _retry_after(response)
            )
        if response.status_code >= 400:
            raise error_for_code(response.status_code, message_of(body) or response.reason_phrase)
        return body.get("data", body) if "code" in body else body

    # --- tasks ---------------------------------------------------------------------------
    def create_task(self, request: KieRequest) -> str:
        """Start an asynchronous generation; KIE's task id."""
        endpoint = request.endpoint
        if endpoint.synchronous:
            raise ValueError(f"{endpoint.family} is synchronous: use run_sync")
        data = self._send(self._api, endpoint.method, endpoint.path, json=request.body)
        task_id = data.get("taskId") or data.get("task_id") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise KieRetryable(502, f"createTask answered without a task id: {data!r:.200}")
        return task_id

    def query_task(self, family: str, status_path: str, task_id: str) -> TaskStatus:
        """Where a task stands now: KIE's final word on its outcome."""
        data = self._send(self._api, "GET", status_path, params={"taskId": task_id})
        try:
            return parse_record(family, data)
        except MalformedResult as error:
            raise KieRetryable(502, f"unreadable record for {task_id}: {error}") from None

    def run_sync(self, request: KieRequest) -> TaskStatus:
        """A synchronous (chat) model: the finished text and the tokens it used."""
        data = self._send(
            self._api, request.endpoint.method, request.endpoint.path, json=request.body
        )
        if not isinstance(data, dict):
            raise KieRetryable(502, "chat answered without a message")
        text, usage = _chat_text(data)
        if not text:
            raise KieRejected(422, "the model returned no text")
        return TaskStatus(TaskState.SUCCESS, str(data.get("id") or ""), text=text, extra=usage)

    # --- account and files ---------------------------------------------------------------
    def credit_balance(self) -> int:
        data = self._send(self._api, "GET", "/api/v1/chat/credit")
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise KieRetryable(502, f"credit balance is not a number: {data!r:.100}")
        return int(data)

    def download_url(self, url: str) -> str:
        """A temporary (20 min) direct link for a KIE-generated file."""
        data = self._send(self._api, "POST", "/api/v1/common/download-url", json={"url": url})
        if not isinstance(data, str):
            raise KieRetryable(502, "download-url answered without a URL")
        return data

    def upload_bytes(self, content: bytes, file_name: str, upload_path: str = "studio") -> str:
        """Put a user's file where KIE can fetch it; the URL to pass as a model input."""
        data = self._send(
            self._upload,
            "POST",
            "/api/file-stream-upload",
            files={"file": (file_name, content)},
            data={"uploadPath": upload_path, "fileName": file_name},
        )
        return _download_url_of(data)

    def upload_base64(self, content: bytes, file_name: str, upload_path: str = "studio") -> str:
        data = self._send(
            self._upload,
            "POST",
            "/api/file-base64-upload",
            json={
                "base64Data": base64.b64encode(content).decode(),
                "uploadPath": upload_path,
                "fileName": file_name,
            },
        )
        return _download_url_of(data)

    def upload_from_url(self, url: str, upload_path: str = "studio") -> str:
        data = self._send(
            self._upload,
            "POST",
            "/api/file-url-upload",
            json={"fileUrl": url, "uploadPath": upload_path},
        )
        return _download_url_of(data)


def _download_url_of(data: object) -> str:
    if isinstance(data, Mapping):
        for key in ("downloadUrl", "fileUrl"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    raise KieRetryable(502, "upload answered without a download URL")


def _chat_text(data: Mapping[str, Any]) -> tuple[str, dict[str, int]]:
    """Anthropic messages ({content: [{type: text}]}) or OpenAI chat ({choices: [...]})."""
    usage_raw = data.get("usage")
    if not isinstance(usage_raw, dict):
        usage_raw = {}
    usage = {
        "tokens_in": int(usage_raw.get("input_tokens") or usage_raw.get("prompt_tokens") or 0),
        "tokens_out": int(
            usage_raw.get("output_tokens") or usage_raw.get("completion_tokens") or 0
        ),
    }
    parts: list[str] = []
    for block in data.get("content") or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text") or ""))
    for choice in data.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            parts.append(message["content"])
    return "".join(parts).strip(), usage


__all__ = ["KieClient", "KieError"]
