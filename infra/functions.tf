# The repository (less tests, docs, tooling) zipped once; every function builds from it
# with its own file as the source (GOOGLE_FUNCTION_SOURCE) and its own entry point.
data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/.build/source.zip"
  excludes = [
    ".git", ".git/**", ".venv/**", ".venv-tasks-emulator/**", ".venv-deploy-checks/**",
    ".venv-checkov/**",
    "node_modules/**", ".serverless/**", ".local/**", "infra/**", "tests/**", "docs/**",
    "scripts/**", "ocr/**", "deploy/**", "test-artifacts/**", ".hypothesis/**", ".mypy_cache/**",
    ".pytest_cache/**", ".ruff_cache/**", "**/__pycache__/**", "**/.env", "**/.env.*",
  ]
}

resource "google_storage_bucket_object" "source" {
  name   = "source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.sources.name
  source = data.archive_file.source.output_path
}

resource "google_cloudfunctions2_function" "fn" {
  # checkov:skip=CKV_GCP_124:telegram_webhook and kie_callback are called from the internet; Cloud Tasks and Cloud Scheduler reach the others from outside the VPC, so those are closed by Cloud Run IAM instead (run.invoker only for the tasks and scheduler identities)
  for_each    = local.functions
  name        = each.key # = the queue target's name: FUNCTIONS_BASE_URL/<name>
  location    = var.region
  description = each.value.description

  build_config {
    runtime         = "python312"
    entry_point     = each.value.entry_point
    service_account = google_service_account.build.id
    environment_variables = {
      GOOGLE_FUNCTION_SOURCE = each.value.source
    }
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout
    max_instance_request_concurrency = each.value.concurrency
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    # Public ones are called by Telegram and KIE (each checks its own secret); the rest
    # accept only OIDC tokens of the identities bound below (Cloud Run IAM).
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime.email
    vpc_connector                  = google_vpc_access_connector.main.id
    vpc_connector_egress_settings  = "PRIVATE_RANGES_ONLY"
    environment_variables = merge(local.env, local.function_env, {
      DB_POOL_MAX = tostring(each.value.db_pool_max)
      THREADS     = tostring(each.value.concurrency) # gunicorn threads = request concurrency
      PYTHONPATH  = "/workspace"                     # shared/ next to functions/
    })

    dynamic "secret_environment_variables" {
      for_each = local.secret_env
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.all[secret_environment_variables.key].secret_id
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.runtime,
    google_secret_manager_secret_version.database_url,
    google_secret_manager_secret_version.object_store_access_key_id,
    google_secret_manager_secret_version.object_store_secret_access_key,
    google_project_iam_member.build,
  ]
}

# Telegram and KIE cannot send Google identity tokens: these two are public and
# authenticate each request themselves (secret header; signed URL and webhook HMAC).
resource "google_cloud_run_v2_service_iam_member" "public" {
  # checkov:skip=CKV_GCP_102:telegram_webhook and kie_callback must be reachable by Telegram and KIE; both refuse requests without their secret
  for_each = { for name, f in local.functions : name => f if f.public }
  name     = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "tasks_invoker" {
  for_each = toset(["submit_job", "deliver_result"])
  name     = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.tasks.email}"
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invoker" {
  name     = google_cloudfunctions2_function.fn["sweeper"].service_config[0].service
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}
