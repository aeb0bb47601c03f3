"""Offline deploy checks on the real files, and proof that each one fails when it should
(always on temporary copies: the repository is never edited)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from tests.deploy.checks import (
    DEPLOY_CHECKS_PYTHON,
    ROOT,
    DeployCheckError,
    entry_point_problems,
    env_problems,
    load_serverless,
    parse_terraform,
    resolve,
    terraform_data,
    terraform_locals,
    terraform_resources,
    terraform_variable_default,
    zipped_ignored_dirs,
)

if not DEPLOY_CHECKS_PYTHON.exists():
    # Not a skip: the HCL checks not running must not look like the HCL checks passing.
    pytest.fail(
        f"{DEPLOY_CHECKS_PYTHON} is missing: run `make deploy-checks-venv` (make test does)",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def terraform() -> dict[str, Any]:
    return parse_terraform(ROOT / "infra")


@pytest.fixture(scope="module")
def serverless() -> dict[str, Any]:
    return load_serverless(ROOT / "serverless.yml")


def copy_of_repo(tmp_path: Path) -> Path:
    """What the checks read: functions/, ocr/, infra/*.tf and serverless.yml."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "functions", root / "functions", ignore=shutil.ignore_patterns("__*"))
    shutil.copytree(ROOT / "ocr", root / "ocr")
    (root / "infra").mkdir()
    for tf in (ROOT / "infra").glob("*.tf"):
        shutil.copy(tf, root / "infra" / tf.name)
    shutil.copy(ROOT / "serverless.yml", root / "serverless.yml")
    return root


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- Terraform parses ------------------------------------------------------------------------
def test_every_tf_file_parses(terraform: dict[str, Any]) -> None:
    assert set(terraform) == {p.name for p in (ROOT / "infra").glob("*.tf")}


def test_a_syntax_error_in_a_tf_file_fails_the_parse(tmp_path: Path) -> None:
    root = copy_of_repo(tmp_path)
    tasks = root / "infra" / "tasks.tf"
    tasks.write_text(tasks.read_text().rstrip().removesuffix("}"), encoding="utf-8")
    with pytest.raises(DeployCheckError, match=r"tasks\.tf"):
        parse_terraform(root / "infra")


# --- entry points ----------------------------------------------------------------------------
def test_every_deployed_function_points_at_a_real_entry_point(
    terraform: dict[str, Any], serverless: dict[str, Any]
) -> None:
    assert entry_point_problems(ROOT, serverless, terraform) == []


def test_a_renamed_cloud_function_fails_the_check(
    tmp_path: Path, terraform: dict[str, Any]
) -> None:
    root = copy_of_repo(tmp_path)
    replace_in(root / "functions" / "submit_job.py", "def submit_job(", "def submit_task(")
    problems = entry_point_problems(root, load_serverless(root / "serverless.yml"), terraform)
    assert "infra functions submit_job: functions/submit_job.py defines no function" in "\n".join(
        problems
    )


def test_a_renamed_lambda_handler_fails_the_check(
    tmp_path: Path, terraform: dict[str, Any]
) -> None:
    root = copy_of_repo(tmp_path)
    replace_in(root / "functions" / "aws_http.py", "def kie_callback(", "def kie_callback_v2(")
    problems = entry_point_problems(root, load_serverless(root / "serverless.yml"), terraform)
    assert problems == [
        "serverless.yml kie_callback: functions/aws_http.py defines no function 'kie_callback'"
    ]


def test_a_new_function_that_no_target_deploys_fails_the_check(
    tmp_path: Path, terraform: dict[str, Any]
) -> None:
    root = copy_of_repo(tmp_path)
    (root / "functions" / "refund_job.py").write_text(
        "import functions_framework\n\n\n@functions_framework.http\n"
        "def refund_job(request):\n    return {}, 200\n",
        encoding="utf-8",
    )
    problems = entry_point_problems(root, load_serverless(root / "serverless.yml"), terraform)
    assert problems == [
        "infra/ deploys no function for functions/refund_job.py",
        "serverless.yml deploys no function refund_job",
    ]


# --- settings --------------------------------------------------------------------------------
def test_both_targets_provide_every_setting_the_code_needs(
    terraform: dict[str, Any], serverless: dict[str, Any]
) -> None:
    assert env_problems(Settings, serverless, terraform) == []


def settings_with(tmp_path: Path, field: str) -> type[Settings]:
    """shared/config.py copied with one more field, imported under another name."""
    copy = tmp_path / "config_copy.py"
    shutil.copy(ROOT / "shared" / "config.py", copy)
    replace_in(copy, "    # --- Logging", f"    {field}\n\n    # --- Logging")
    spec = importlib.util.spec_from_file_location("config_copy", copy)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["config_copy"] = module  # pydantic resolves annotations through it
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["config_copy"]
    settings: type[Settings] = module.Settings
    return settings


@pytest.mark.parametrize(
    ("field", "variable"),
    [
        ("fal_api_key: SecretStr | None = None", "FAL_API_KEY"),
        ("support_chat_id: int", "SUPPORT_CHAT_ID"),
    ],
)
def test_a_setting_added_to_the_code_but_not_to_the_targets_fails_the_check(
    tmp_path: Path,
    terraform: dict[str, Any],
    serverless: dict[str, Any],
    field: str,
    variable: str,
) -> None:
    problems = env_problems(settings_with(tmp_path, field), serverless, terraform)
    assert f"infra/: the functions do not get {variable}" in problems
    assert f"serverless.yml: telegram_webhook does not get {variable}" in problems
    assert len(problems) == 1 + len(serverless["functions"])


def test_a_setting_missing_from_one_target_only_names_that_target(
    tmp_path: Path, terraform: dict[str, Any]
) -> None:
    root = copy_of_repo(tmp_path)
    replace_in(
        root / "serverless.yml",
        '    KIE_API_KEY: "{{resolve:ssm:/kie-studio/${sls:stage}/KIE_API_KEY}}"\n',
        "",
    )
    problems = env_problems(Settings, load_serverless(root / "serverless.yml"), terraform)
    assert problems and all(p.endswith("does not get KIE_API_KEY") for p in problems)
    assert all(p.startswith("serverless.yml") for p in problems)


def test_a_variable_that_is_no_setting_fails_the_check(tmp_path: Path) -> None:
    root = copy_of_repo(tmp_path)
    replace_in(root / "infra" / "main.tf", "    LOG_LEVEL ", "    LOG_LEVELL ")
    problems = env_problems(
        Settings, load_serverless(ROOT / "serverless.yml"), parse_terraform(root / "infra")
    )
    assert "infra/ sets LOG_LEVELL, which shared/config.py does not read" in problems


# --- what the issue asks of the Terraform ----------------------------------------------------
def test_cloud_sql_is_private_backed_up_and_protected(terraform: dict[str, Any]) -> None:
    instance = terraform_resources(terraform, "google_sql_database_instance")["main"]
    settings = instance["settings"][0]
    assert instance["deletion_protection"] is True
    assert settings["deletion_protection_enabled"] is True
    assert settings["ip_configuration"][0]["ipv4_enabled"] is False
    backup = settings["backup_configuration"][0]
    assert backup["enabled"] is True and backup["point_in_time_recovery_enabled"] is True


def test_the_results_bucket_expires_results_and_aborts_failed_uploads(
    terraform: dict[str, Any],
) -> None:
    bucket = terraform_resources(terraform, "google_storage_bucket")["results"]
    actions = {rule["action"][0]["type"]: rule["condition"][0] for rule in bucket["lifecycle_rule"]}
    assert actions["Delete"]["matches_prefix"] == ["results/"]
    assert actions["AbortIncompleteMultipartUpload"]["age"] == 1


def test_queues_have_explicit_retries_and_rate_limits(terraform: dict[str, Any]) -> None:
    queues = terraform_resources(terraform, "google_cloud_tasks_queue")
    assert set(queues) == {"submit", "deliver", "ocr"}
    for queue in queues.values():
        retry, rate = queue["retry_config"][0], queue["rate_limits"][0]
        assert {"max_attempts", "max_retry_duration", "min_backoff", "max_backoff"} <= set(retry)
        assert 0 < rate["max_dispatches_per_second"] <= 25  # Telegram: ~30 messages/s in all


def test_functions_are_sized_and_the_webhook_stays_warm(terraform: dict[str, Any]) -> None:
    functions = terraform_locals(terraform)["functions"]
    for function in functions.values():
        assert {"memory", "timeout", "concurrency", "min_instances", "max_instances"} <= set(
            function
        )
    assert resolve(terraform, functions["telegram_webhook"]["min_instances"]) >= 1
    budget = sum(f["max_instances"] * f["db_pool_max"] for f in functions.values())
    assert budget + 3 < terraform_variable_default(terraform, "db_max_connections")


def test_the_sweeper_runs_every_minute_with_oidc(terraform: dict[str, Any]) -> None:
    job = terraform_resources(terraform, "google_cloud_scheduler_job")["sweeper"]
    assert job["schedule"] == "* * * * *"
    assert job["http_target"][0]["oidc_token"][0]["service_account_email"]


def test_the_function_source_zip_leaves_out_every_ignored_directory(
    terraform: dict[str, Any],
) -> None:
    excludes = terraform_data(terraform, "archive_file")["source"]["excludes"]
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert zipped_ignored_dirs(excludes, gitignore) == []
    # A new tooling directory that .gitignore learns of and the archive does not is caught.
    assert zipped_ignored_dirs(excludes, gitignore + ".venv-new-tool/\n") == [".venv-new-tool"]
