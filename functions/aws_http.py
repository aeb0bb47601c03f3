"""AWS Lambda entry points for the HTTPS functions, behind Lambda function URLs.

A function URL event (payload format 2.0) becomes the same Flask request
functions-framework hands the function on Google Cloud, and the function's
answer (body, status[, headers]) becomes Lambda's response: the function bodies
in functions/*.py run unchanged.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Request, request

from shared.once import once

LambdaResponse = dict[str, Any]


@once
def _app() -> Flask:
    # Only for Flask's request context and make_response (JSON bodies, status, headers).
    return Flask("kie_studio_lambda")


def invoke(function: Callable[[Request], Any], event: Mapping[str, Any]) -> LambdaResponse:
    """Run an HTTP function (functions-framework signature) on a function URL event."""
    http = event.get("requestContext", {}).get("http", {})
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers = dict(event.get("headers") or {})
    if event.get("cookies"):
        headers["cookie"] = "; ".join(event["cookies"])
    app = _app()
    with app.test_request_context(
        path=str(event.get("rawPath") or "/"),
        method=str(http.get("method") or "POST"),
        query_string=str(event.get("rawQueryString") or ""),
        headers=headers,
        data=data,
    ):
        response = app.make_response(function(request))
    return {
        "statusCode": response.status_code,
        "headers": {key: value for key, value in response.headers.items()},
        "body": response.get_data(as_text=True),
        "isBase64Encoded": False,
    }


def telegram_webhook(event: dict[str, Any], context: object) -> LambdaResponse:
    from functions.telegram_webhook import telegram_webhook as function

    return invoke(function, event)


def kie_callback(event: dict[str, Any], context: object) -> LambdaResponse:
    from functions.kie_callback import kie_callback as function

    return invoke(function, event)
