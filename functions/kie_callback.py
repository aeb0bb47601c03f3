"""kie_callback (HTTPS from KIE): verify, parse, move the job and its money once.

401/403 for a URL or webhook signature that is not ours (nothing changes), 400
for a body no family sends, 404 for a signed id with no job, 503 when KIE
could not confirm the result yet; otherwise KIE's expected acknowledgement.
"""

from __future__ import annotations

import functions_framework
from flask import Request

from shared.bootstrap import get_job_service, observe
from shared.config import get_settings
from shared.jobs.service import JobNotFound, RetryLater
from shared.kie.results import MalformedResult
from shared.kie.signing import SignatureError, verify_job_signature

Response = tuple[dict[str, object], int]


@functions_framework.http
def kie_callback(request: Request) -> Response:
    observe(request.headers.get("X-Cloud-Trace-Context"))
    try:
        job_id = verify_job_signature(
            request.args.get("job"),
            request.args.get("sig"),
            get_settings().callback_secret.get_secret_value(),
        )
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return {"code": 400, "msg": "the body is not a JSON object"}, 400
        job = get_job_service().handle_callback(
            job_id,
            body,
            webhook_timestamp=request.headers.get("X-Webhook-Timestamp"),
            webhook_signature=request.headers.get("X-Webhook-Signature"),
        )
    except SignatureError as refused:
        return {"code": refused.status, "msg": refused.reason}, refused.status
    except MalformedResult as error:
        return {"code": 400, "msg": str(error)}, 400
    except JobNotFound:
        return {"code": 404, "msg": "unknown job"}, 404
    except RetryLater as later:
        return {"code": later.http_status, "msg": str(later)}, later.http_status
    return {"code": 200, "msg": "success", "state": job.state.value}, 200
