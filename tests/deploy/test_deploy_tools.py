"""checkov on infra/ and `serverless package` (v3 from npm), both offline and without
cloud credentials."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.checks import CHECKOV, ROOT, checkov_findings, http_functions

SERVERLESS = ROOT / "node_modules" / ".bin" / "serverless"
# A digest, so serverless does not ask ECR for the image (no AWS here).
OCR_IMAGE = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/kie-studio-ocr@sha256:" + "0" * 64


def missing(tool: Path, how: str) -> None:
    # A failure, not a skip: `make test` installs every tool, so a missing one is a broken
    # set-up, and a check that silently did not run would read as a check that passed.
    pytest.fail(f"{tool} is missing: {how} (make test installs it)")


def test_checkov_finds_nothing_unwaived_in_infra() -> None:
    if not CHECKOV.exists():
        missing(CHECKOV, "make deploy-checks-venv")
    failed, unexplained = checkov_findings(ROOT / "infra")
    assert failed == [], "fix these or waive each with `# checkov:skip=ID:reason`"
    assert unexplained == [], "every waiver needs a reason"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("node") is None:
        missing(Path("node"), "Node.js, from Debian's nodejs package")
    if not SERVERLESS.exists():
        missing(SERVERLESS, "npm ci (make test runs it when npm is installed)")
    out = tmp_path_factory.mktemp("sls")
    env = {
        **os.environ,
        # Dummy credentials: packaging needs some, and nothing here may reach AWS.
        "AWS_ACCESS_KEY_ID": "AKIAOFFLINEPACKAGING",
        "AWS_SECRET_ACCESS_KEY": "offline",
        "AWS_REGION": "eu-central-1",
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "SLS_PYTHON_BIN": sys.executable,  # pip downloads the Linux wheels for the zip
    }
    done = subprocess.run(
        [
            *(str(SERVERLESS), "package", "--stage", "ci", "--package", str(out)),
            f"--param=ocrImageUri={OCR_IMAGE}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_serverless_packages_the_functions_and_nothing_else(packaged: Path) -> None:
    with zipfile.ZipFile(packaged / "kie-studio.zip") as artifact:
        names = set(artifact.namelist())
    for name in http_functions(ROOT) | {"aws_http", "aws_sqs", "aws_schedule", "aws_ocr"}:
        assert f"functions/{name}.py" in names
    assert "registry/catalogue.json" in names
    assert "shared/bootstrap.py" in names
    assert any(n.startswith("shared/migrations/") for n in names)
    assert any(n.startswith("aiogram/") for n in names)  # the dependencies came along
    forbidden = [
        n
        for n in names
        if n.startswith(("tests/", "infra/", "scripts/", "node_modules/", ".local/", ".git/"))
        or Path(n).name in {".env", "terraform.tfvars", "terraform.tfstate"}
        or Path(n).name.startswith(".env.")
    ]
    assert forbidden == []


def test_the_packaged_postgres_driver_imports_from_the_zip_alone(
    packaged: Path, tmp_path: Path
) -> None:
    """pg8000 and scramp read their own version (importlib.metadata) when imported: the zip
    must keep their dist-info. Pure Python, so this interpreter can import the Lambda's copy."""
    with zipfile.ZipFile(packaged / "kie-studio.zip") as artifact:
        artifact.extractall(tmp_path)
    script = "import sys; sys.path.insert(0, sys.argv[1]); import pg8000"
    done = subprocess.run(
        [sys.executable, "-S", "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_cloudformation_template_wires_queues_schedule_and_secrets(packaged: Path) -> None:
    template = (packaged / "cloudformation-template-update-stack.json").read_text()
    assert template.count('"ReportBatchItemFailures"') == 3  # submit, deliver, ocr
    assert "rate(1 minute)" in template
    assert template.count("deadLetterTargetArn") == 3
    assert "{{resolve:ssm:/kie-studio/ci/TELEGRAM_BOT_TOKEN}}" in template
    bucket = json.loads(template)["Resources"]["ResultsBucket"]["Properties"]
    aborts = [
        rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        for rule in bucket["LifecycleConfiguration"]["Rules"]
        if rule["Status"] == "Enabled" and "AbortIncompleteMultipartUpload" in rule
    ]
    assert aborts == [1]  # parts of a failed upload are not kept (and billed) for ever
