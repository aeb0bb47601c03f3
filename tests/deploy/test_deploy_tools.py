"""checkov on infra/ and `serverless package` (v3 from npm), both offline and without
cloud credentials."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.deploy.checks import CHECKOV, ROOT, checkov_findings, http_functions

SERVERLESS = ROOT / "node_modules" / ".bin" / "serverless"
# A digest, so serverless does not ask ECR for the image (no AWS here).
OCR_IMAGE = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/kie-studio-ocr@sha256:" + "0" * 64


def runtime_python() -> tuple[str, str]:
    """The Lambda runtime's version (serverless.yml) and a Python of that version on this
    machine that runs (pyenv's shims are on PATH even for versions not selected), or this
    interpreter when there is none."""
    serverless_yml = (ROOT / "serverless.yml").read_text()
    match = re.search(r"^\s*runtime:\s*python(\d+\.\d+)", serverless_yml, re.M)
    assert match, "serverless.yml names no python runtime"
    version = match.group(1)
    pyenv = glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}"))
    for candidate in [*sorted(pyenv), shutil.which(f"python{version}")]:
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return version, candidate
    return version, sys.executable


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


class Packaged(NamedTuple):
    out: Path
    python: str  # the Python that packaged it (pip, bytecode)
    log: str


@pytest.fixture(scope="module")
def packaging(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
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
        # pip downloads the Linux wheels for the zip; with the runtime's Python the zip
        # also carries bytecode (deploy/lambda-bytecode.js).
        "SLS_PYTHON_BIN": runtime_python()[1],
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
    return Packaged(out, env["SLS_PYTHON_BIN"], done.stdout + done.stderr)


@pytest.fixture(scope="module")
def packaged(packaging: Packaged) -> Path:
    return packaging.out


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


# Counts the modules Python compiles from source while importing the named ones.
COUNT_COMPILES = """
import importlib, importlib._bootstrap_external as external, sys
compiled = []
original = external.SourceLoader.source_to_code
def counting(self, data, path, *args, **kwargs):
    compiled.append(path)
    return original(self, data, path, *args, **kwargs)
external.SourceLoader.source_to_code = counting
sys.path.insert(0, sys.argv[1])
for name in sys.argv[2:]:
    importlib.import_module(name)
print("\\n".join(compiled))
"""


def test_the_zip_carries_the_runtimes_bytecode_so_a_cold_start_compiles_nothing(
    packaging: Packaged, tmp_path: Path
) -> None:
    """Lambda's code directory is read-only: Python cannot cache what it compiles there, so
    without bytecode in the zip every cold start compiles every module it imports."""
    version, _ = runtime_python()
    packaging_version = subprocess.run(
        [packaging.python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with zipfile.ZipFile(packaging.out / "kie-studio.zip") as artifact:
        names = set(artifact.namelist())
        bytecode = {n: artifact.read(n)[:8] for n in names if n.endswith(".pyc")}
        if packaging_version != version:
            # No Python of the runtime's version here: the operator is told, nothing stale ships.
            assert f"the runtime is python{version}: no bytecode" in packaging.log
            assert bytecode == {}
            return
        artifact.extractall(tmp_path)
    tag = "cpython-" + version.replace(".", "")
    sources = [n for n in names if n.endswith(".py")]
    without = [
        n
        for n in sources
        if f"{Path(n).parent}/__pycache__/{Path(n).stem}.{tag}.pyc".lstrip("./") not in names
    ]
    assert without == []
    magic = subprocess.run(
        [
            packaging.python,
            "-c",
            "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # PEP 552 flags 0b11: checked against a hash of the source, since every file in the zip
    # carries Serverless's one fixed date and a timestamp check would find all stale.
    headers = {(h[:4].hex(), struct.unpack("<I", h[4:8])[0]) for h in bytecode.values()}
    assert headers == {(magic, 0b11)}
    for path in sorted(tmp_path.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)  # read-only, as /var/task is
    imported = subprocess.run(
        [
            *(packaging.python, "-S", "-c", COUNT_COMPILES, str(tmp_path)),
            *("functions.kie_callback", "functions.submit_job", "functions.aws_http"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert imported.stdout.split() == []


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
