"""The offline deploy checks: Terraform parses, every deployed function points at a real
entry point, every setting the code needs is provided by both deploy targets.

Each check takes the repository root (or parsed configs), so the tests can run it on a
temporary copy with a renamed function, an added setting or a broken .tf file.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import subprocess
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel, SecretStr

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_CHECKS_PYTHON = ROOT / ".venv-deploy-checks" / "bin" / "python"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
TF_DUMP = Path(__file__).resolve().parent / "tf_dump.py"

# Secrets the code reads that a deploy may leave out, and why.
OPTIONAL_SECRETS = {
    "TEST_DATABASE_URL": "tests only",
    "PAYMENTS_PROVIDER_TOKEN": "unset hides card payments; docs/OPERATIONS.md says how to add it",
}
NOT_ON_AWS = {
    "OBJECT_STORE_ACCESS_KEY_ID": "on AWS the Lambda role's own credentials reach S3",
    "OBJECT_STORE_SECRET_ACCESS_KEY": "on AWS the Lambda role's own credentials reach S3",
}
# Settings whose defaults only suit the local sandbox: each target must set them.
PRODUCTION = {
    "terraform": {
        "ENVIRONMENT",
        "TASK_QUEUE_BACKEND",
        "GCP_PROJECT",
        "GCP_LOCATION",
        "FUNCTIONS_BASE_URL",
        "CLOUD_TASKS_QUEUE_SUBMIT",
        "CLOUD_TASKS_QUEUE_DELIVER",
        "CLOUD_TASKS_QUEUE_OCR",
        "CLOUD_TASKS_INVOKER_EMAIL",
        "KIE_CALLBACK_URL",
        "OBJECT_STORE_BUCKET",
        "OBJECT_STORE_ENDPOINT_URL",
    },
    "serverless": {
        "ENVIRONMENT",
        "TASK_QUEUE_BACKEND",
        "SQS_QUEUE_URL_SUBMIT",
        "SQS_QUEUE_URL_DELIVER",
        "SQS_QUEUE_URL_OCR",
        "KIE_CALLBACK_URL",
        "OBJECT_STORE_BUCKET",
    },
}
# Variables a target may set that are not settings: the platform's, or deploy bookkeeping.
NOT_SETTINGS = {
    "THREADS": "gunicorn's threads in Cloud Functions (= request concurrency)",
    "PYTHONPATH": "puts shared/ beside functions/ on Cloud Functions",
    "DEPLOY_SECRETS_REVISION": "serverless.yml: changing it re-reads the SSM parameters",
}


class DeployCheckError(RuntimeError):
    """A deploy file is broken or missing (as opposed to a finding of a check)."""


# --- loading -------------------------------------------------------------------------------
def parse_terraform(infra: Path) -> dict[str, Any]:
    """{file name: parsed HCL} for infra/*.tf; DeployCheckError naming files that do not parse."""
    if not DEPLOY_CHECKS_PYTHON.exists():
        raise DeployCheckError(f"{DEPLOY_CHECKS_PYTHON} is missing: run `make deploy-checks-venv`")
    done = subprocess.run(
        [str(DEPLOY_CHECKS_PYTHON), str(TF_DUMP), str(infra)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise DeployCheckError(f"Terraform does not parse:\n{done.stderr.strip()}")
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


class _CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """Reads serverless.yml's CloudFormation tags (!Ref, !GetAtt, !Join) as {tag: value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


def load_serverless(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506
    return loaded


def terraform_locals(parsed: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for document in parsed.values():
        for block in document.get("locals", []):
            merged.update(block)
    return merged


def terraform_resources(parsed: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for document in parsed.values():
        for block in document.get("resource", []):
            found.update(block.get(kind, {}))
    return found


def terraform_data(parsed: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for document in parsed.values():
        for block in document.get("data", []):
            found.update(block.get(kind, {}))
    return found


def zipped_ignored_dirs(excludes: list[str], gitignore: str) -> list[str]:
    """Directories .gitignore names (virtualenvs, caches, local data) that an archive with
    these excludes would still pack: a tooling venv left out once made the source 300 MB."""
    dirs = [
        line.strip().rstrip("/")
        for line in gitignore.splitlines()
        if line.strip().endswith("/") and not line.startswith("#")
    ]
    return [
        name
        for name in dirs
        if not any(
            fnmatch.fnmatchcase(f"{name}/file", pattern)
            or fnmatch.fnmatchcase(f"package/{name}/file", pattern)
            for pattern in excludes
        )
    ]


def terraform_variable_default(parsed: dict[str, Any], name: str) -> Any:
    for document in parsed.values():
        for block in document.get("variable", []):
            if name in block:
                return block[name].get("default")
    raise KeyError(name)


def resolve(parsed: dict[str, Any], value: Any) -> Any:
    """A `${var.x}` value as the variable's default; anything else as it is."""
    match = re.fullmatch(r"\$\{var\.([A-Za-z0-9_]+)\}", value) if isinstance(value, str) else None
    return terraform_variable_default(parsed, match.group(1)) if match else value


# --- entry points --------------------------------------------------------------------------
@dataclass(frozen=True)
class EntryPoint:
    target: str  # where it is deployed, for messages
    file: str  # relative to the root
    name: str  # a function defined at the top level of that file
    http: bool  # must be a functions-framework HTTP function


def _top_level_functions(path: Path) -> dict[str, list[str]]:
    """Top-level function name → its decorators, as source text."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name: [ast.unparse(d) for d in node.decorator_list]
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def http_functions(root: Path) -> set[str]:
    """Every functions-framework HTTP function in functions/<name>.py named <name>."""
    names = set()
    for path in sorted((root / "functions").glob("*.py")):
        if path.stem.startswith(("aws_", "_")):
            continue
        decorators = _top_level_functions(path).get(path.stem, [])
        if "functions_framework.http" in decorators:
            names.add(path.stem)
    return names


def check_entry_point(root: Path, entry: EntryPoint) -> str | None:
    path = root / entry.file
    if not path.is_file():
        return f"{entry.target}: {entry.file} does not exist"
    functions = _top_level_functions(path)
    if entry.name not in functions:
        return f"{entry.target}: {entry.file} defines no function {entry.name!r}"
    if entry.http and "functions_framework.http" not in functions[entry.name]:
        return f"{entry.target}: {entry.file}:{entry.name} is not @functions_framework.http"
    return None


def serverless_entry_points(config: dict[str, Any]) -> list[EntryPoint]:
    entries = []
    for name, function in (config.get("functions") or {}).items():
        if "handler" in function:
            module, _, attribute = str(function["handler"]).rpartition(".")
            file = f"{module}.py"
        else:  # a container image: the handler is the image's command
            module, _, attribute = str(function["image"]["command"][0]).rpartition(".")
            file = module.replace(".", "/") + ".py"
        entries.append(EntryPoint(f"serverless.yml {name}", file, attribute, http=False))
    return entries


OCR_ENTRYPOINT = re.compile(r"--source=(?P<file>\S+\.py) --target=(?P<name>\w+)")
OCR_LAMBDA = re.compile(r"awslambdaric \"\$\{1:-(?P<handler>[\w.]+)\}\"")


def terraform_entry_points(root: Path, parsed: dict[str, Any]) -> list[EntryPoint]:
    entries = [
        EntryPoint(f"infra functions {name}", f["source"], f["entry_point"], http=True)
        for name, f in terraform_locals(parsed).get("functions", {}).items()
    ]
    # ocr_receipt runs from ocr/Dockerfile on Cloud Run (infra/ocr.tf): its start command.
    script = (root / "ocr" / "entrypoint.sh").read_text(encoding="utf-8")
    for match in OCR_ENTRYPOINT.finditer(script):
        entries.append(EntryPoint("ocr/entrypoint.sh", match["file"], match["name"], http=True))
    for match in OCR_LAMBDA.finditer(script):
        module, _, attribute = match["handler"].rpartition(".")
        entries.append(
            EntryPoint("ocr/entrypoint.sh", module.replace(".", "/") + ".py", attribute, False)
        )
    return entries


def entry_point_problems(
    root: Path, serverless: dict[str, Any], terraform: dict[str, Any]
) -> list[str]:
    """Every deployed function's file and function exist; every HTTP function is deployed."""
    problems = [
        problem
        for entry in serverless_entry_points(serverless) + terraform_entry_points(root, terraform)
        if (problem := check_entry_point(root, entry)) is not None
    ]
    code = http_functions(root)
    on_gcp = {e.name for e in terraform_entry_points(root, terraform) if e.http}
    on_aws = set(serverless.get("functions") or {})
    problems += [f"infra/ deploys no function for functions/{n}.py" for n in code - on_gcp]
    problems += [f"serverless.yml deploys no function {n}" for n in code - on_aws]
    return problems


# --- settings ------------------------------------------------------------------------------
def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def required_settings(settings_cls: type[BaseModel]) -> set[str]:
    """Settings without a default, and every secret, as environment variable names."""
    return {
        name.upper()
        for name, field in settings_cls.model_fields.items()
        if field.is_required() or _is_secret(field.annotation)
    } - set(OPTIONAL_SECRETS)


def terraform_env(parsed: dict[str, Any]) -> set[str]:
    """What every Cloud Function gets: local.base_env, local.function_env and the secrets."""
    local = terraform_locals(parsed)
    names = set(local.get("base_env", {})) | set(local.get("function_env", {}))
    names |= set(local.get("operator_secrets", {})) | set(local.get("generated_secrets", {}))
    function = terraform_resources(parsed, "google_cloudfunctions2_function")["fn"]
    service = function["service_config"][0]
    environment = str(service["environment_variables"])
    if "local.env" not in environment or "local.function_env" not in environment:
        raise DeployCheckError("the functions no longer take local.env and local.function_env")
    secrets = str(service.get("dynamic", ""))
    if "local.secret_env" not in secrets:
        raise DeployCheckError("the functions no longer take their secrets from local.secret_env")
    return names | {"DB_POOL_MAX", "THREADS", "PYTHONPATH"}


def serverless_env(config: dict[str, Any]) -> dict[str, set[str]]:
    """Function name → the variables it gets (provider-wide plus its own)."""
    shared = set((config.get("provider") or {}).get("environment") or {})
    return {
        name: shared | set(function.get("environment") or {})
        for name, function in (config.get("functions") or {}).items()
    }


def env_problems(
    settings_cls: type[BaseModel], serverless: dict[str, Any], terraform: dict[str, Any]
) -> list[str]:
    """Required and production settings provided by both targets; nothing set that is not a
    setting (a typo would be silently ignored by pydantic-settings)."""
    required = required_settings(settings_cls)
    known = {name.upper() for name in settings_cls.model_fields} | set(NOT_SETTINGS)
    problems = []
    gcp = terraform_env(terraform)
    for name in sorted((required | PRODUCTION["terraform"]) - gcp):
        problems.append(f"infra/: the functions do not get {name}")
    for name in sorted(gcp - known):
        problems.append(f"infra/ sets {name}, which shared/config.py does not read")
    for function, names in serverless_env(serverless).items():
        for name in sorted((required | PRODUCTION["serverless"]) - set(NOT_ON_AWS) - names):
            problems.append(f"serverless.yml: {function} does not get {name}")
        for name in sorted(names - known):
            problems.append(f"serverless.yml sets {name}, which shared/config.py does not read")
    return problems


# --- tools ---------------------------------------------------------------------------------
def checkov_findings(infra: Path) -> tuple[list[str], list[str]]:
    """(failed checks, skipped checks without a reason) of checkov on infra/, offline."""
    if not CHECKOV.exists():
        raise DeployCheckError(f"{CHECKOV} is missing: run `make deploy-checks-venv`")
    done = subprocess.run(
        [
            *(str(CHECKOV), "-d", str(infra), "--framework", "terraform"),
            *("--skip-download", "--quiet", "-o", "json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
    )
    report = json.loads(done.stdout)
    results = (report[0] if isinstance(report, list) else report).get("results", {})
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]})"
        for c in results.get("failed_checks", [])
    ]
    unexplained = [
        f"{c['check_id']} {c['resource']}"
        for c in results.get("skipped_checks", [])
        if len(str(c.get("suppress_comment") or "").strip()) < 10
    ]
    return failed, unexplained
