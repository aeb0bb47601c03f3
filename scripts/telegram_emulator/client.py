"""The user API from another process: what a script or a benchmark uses to play users
against an emulator it does not host (docs/TELEGRAM_EMULATOR.md, "User API")."""

from __future__ import annotations

from typing import Any, Protocol

import httpx


class TelegramUsers(Protocol):
    """Playing users: the in-process TelegramEmulator and UserApiClient both do it."""

    def add_user(
        self, user_id: int, first_name: str | None = None, *, language_code: str | None = None
    ) -> None: ...

    def send_text(self, user_id: int, text: str) -> dict[str, Any]: ...

    def press(self, user_id: int, message_id: int, button: str) -> dict[str, Any]: ...

    def chat(
        self, user_id: int, *, after: int | None = None, wait_s: float = 0
    ) -> dict[str, Any]: ...


class UserApiError(RuntimeError):
    """The emulator refused a user action; the message is its own."""


class UserApiClient:
    """One keep-alive client, safe to share between threads (httpx.Client is)."""

    def __init__(self, user_api_url: str, timeout_s: float = 60) -> None:
        # Loopback or a known host: never through a proxy from the environment.
        self._http = httpx.Client(
            base_url=user_api_url.rstrip("/"), timeout=timeout_s, trust_env=False
        )

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._answer(self._http.post(path, json=body))

    @staticmethod
    def _answer(response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise UserApiError(f"{response.request.url.path}: {response.text}")
        answer: dict[str, Any] = response.json()
        return answer

    def add_user(
        self, user_id: int, first_name: str | None = None, *, language_code: str | None = None
    ) -> None:
        self._post(
            f"/users/{user_id}/profile",
            {"first_name": first_name, "language_code": language_code},
        )

    def send_text(self, user_id: int, text: str) -> dict[str, Any]:
        return self._post(f"/users/{user_id}/send", {"text": text})

    def press(self, user_id: int, message_id: int, button: str) -> dict[str, Any]:
        return self._post(f"/users/{user_id}/press", {"message_id": message_id, "button": button})

    def chat(self, user_id: int, *, after: int | None = None, wait_s: float = 0) -> dict[str, Any]:
        params: dict[str, Any] = {} if after is None else {"after": after, "wait": wait_s}
        return self._answer(self._http.get(f"/users/{user_id}/chat", params=params))
