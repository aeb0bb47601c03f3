locals {
  # Cloud Functions gen2 keep the cloudfunctions.net URL, {base}/{function name}: the queue
  # targets (submit_job, deliver_result) are reached at FUNCTIONS_BASE_URL/<target>.
  functions_base_url = "https://${var.region}-${var.project_id}.cloudfunctions.net"

  # Every HTTP function in functions/ that runs as a Cloud Function: its source file, entry
  # point and size. ocr_receipt needs tesseract and runs as a container instead (ocr.tf).
  # Connection budget: Σ max_instances × db_pool_max = 40 + 10 + 10 + 10 + 1 = 71, plus the
  # OCR service's 2 and the migrations job's 1, under var.db_max_connections (100).
  functions = {
    telegram_webhook = {
      source        = "functions/telegram_webhook.py"
      entry_point   = "telegram_webhook"
      description   = "HTTPS from Telegram: secret header, dedupe, aiogram"
      memory        = "1Gi"
      cpu           = "1"
      timeout       = 60 # Telegram waits 60 s for an answer
      concurrency   = 8
      min_instances = var.webhook_min_instances
      max_instances = 10
      db_pool_max   = 4
      public        = true
    }
    kie_callback = {
      source        = "functions/kie_callback.py"
      entry_point   = "kie_callback"
      description   = "HTTPS from KIE: signed URL, webhook HMAC, the job's money moved once"
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      concurrency   = 8
      min_instances = 0
      max_instances = 5
      db_pool_max   = 2
      public        = true
    }
    submit_job = {
      source        = "functions/submit_job.py"
      entry_point   = "submit_job"
      description   = "Cloud Tasks target: one job to KIE"
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 120
      concurrency   = 4
      min_instances = 0
      max_instances = 5
      db_pool_max   = 2
      public        = false
    }
    deliver_result = {
      source        = "functions/deliver_result.py"
      entry_point   = "deliver_result"
      description   = "Cloud Tasks target: the result or failure notice into the chat"
      memory        = "1Gi"
      cpu           = "1"
      timeout       = 600
      concurrency   = 4
      min_instances = 0
      max_instances = 5
      db_pool_max   = 2
      public        = false
    }
    sweeper = {
      source        = "functions/sweeper.py"
      entry_point   = "sweeper"
      description   = "Every minute (Cloud Scheduler): late jobs, overdue jobs, stuck work, expired holds"
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 300
      concurrency   = 1
      min_instances = 0
      max_instances = 1
      db_pool_max   = 1
      public        = false
    }
  }

  # Plain settings every function and the OCR service get (shared/config.py reads them).
  base_env = {
    ENVIRONMENT               = "production"
    LOG_LEVEL                 = "INFO"
    TASK_QUEUE_BACKEND        = "cloud_tasks"
    GCP_PROJECT               = var.project_id
    GCP_LOCATION              = var.region
    FUNCTIONS_BASE_URL        = local.functions_base_url
    CLOUD_TASKS_QUEUE_SUBMIT  = google_cloud_tasks_queue.submit.name
    CLOUD_TASKS_QUEUE_DELIVER = google_cloud_tasks_queue.deliver.name
    CLOUD_TASKS_QUEUE_OCR     = google_cloud_tasks_queue.ocr.name
    CLOUD_TASKS_INVOKER_EMAIL = google_service_account.tasks.email
    KIE_CALLBACK_URL          = "${local.functions_base_url}/kie_callback"
    OBJECT_STORE_BUCKET       = google_storage_bucket.results.name
    OBJECT_STORE_ENDPOINT_URL = "https://storage.googleapis.com"
    OBJECT_STORE_REGION       = var.region
    # A result is spooled on its way to the bucket, and /tmp on Cloud Functions is memory:
    # deliver_result's 1 GiB over 4 requests at once. Larger results go out from KIE's links.
    RESULT_MAX_BYTES = "157286400"
  }
  env = merge(local.base_env, var.settings)

  # Only the Cloud Functions get these (the OCR service would depend on itself).
  function_env = {
    # ocr_receipt lives on Cloud Run, not at FUNCTIONS_BASE_URL/ocr_receipt: its queue's
    # tasks go to this URL (docs/OPERATIONS.md, "Receipt OCR").
    OCR_RECEIPT_URL = google_cloud_run_v2_service.ocr.uri
  }

  # Secrets (Secret Manager) by environment variable. Operators add these values.
  operator_secrets = {
    TELEGRAM_BOT_TOKEN      = "${var.name}-telegram-bot-token"
    TELEGRAM_WEBHOOK_SECRET = "${var.name}-telegram-webhook-secret"
    KIE_API_KEY             = "${var.name}-kie-api-key"
    CALLBACK_SECRET         = "${var.name}-callback-secret"
    KIE_WEBHOOK_HMAC_KEY    = "${var.name}-kie-webhook-hmac-key"
  }
  # Terraform writes these (the database URL with its password, the bucket's HMAC key).
  generated_secrets = {
    DATABASE_URL                   = "${var.name}-database-url"
    OBJECT_STORE_ACCESS_KEY_ID     = "${var.name}-object-store-access-key-id"
    OBJECT_STORE_SECRET_ACCESS_KEY = "${var.name}-object-store-secret-access-key"
  }
  secret_env = merge(local.operator_secrets, local.generated_secrets)

  apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
    "vpcaccess.googleapis.com",
  ]
}

resource "google_project_service" "apis" {
  for_each           = toset(local.apis)
  service            = each.value
  disable_on_destroy = false
}
