output "telegram_webhook_url" {
  description = "TELEGRAM_WEBHOOK_URL for `python -m scripts.set_webhook`."
  value       = "${local.functions_base_url}/telegram_webhook"
}

output "kie_callback_url" {
  description = "KIE_CALLBACK_URL the functions hand to KIE (signed per job)."
  value       = "${local.functions_base_url}/kie_callback"
}

output "function_uris" {
  description = "Each function's run.app URI (same function as its cloudfunctions.net URL)."
  value       = { for name, f in google_cloudfunctions2_function.fn : name => f.service_config[0].uri }
}

output "ocr_receipt_url" {
  description = "The OCR service (Cloud Run), target of the ocr queue."
  value       = google_cloud_run_v2_service.ocr.uri
}

output "migrate_job" {
  description = "Run after a deploy that adds a migration: gcloud run jobs execute <this> --region=<region> --wait"
  value       = google_cloud_run_v2_job.migrate.name
}

output "operator_secrets" {
  description = "Secret Manager secret ids whose values the operator adds (gcloud secrets versions add)."
  value       = local.operator_secrets
}

output "database_instance" {
  description = "Cloud SQL instance connection name and private IP."
  value = {
    connection_name = google_sql_database_instance.main.connection_name
    private_ip      = google_sql_database_instance.main.private_ip_address
  }
}

output "results_bucket" {
  description = "Bucket of archived results (OBJECT_STORE_BUCKET)."
  value       = google_storage_bucket.results.name
}

output "queues" {
  description = "Cloud Tasks queue names."
  value = {
    submit  = google_cloud_tasks_queue.submit.name
    deliver = google_cloud_tasks_queue.deliver.name
    ocr     = google_cloud_tasks_queue.ocr.name
  }
}

output "connection_budget" {
  description = "Σ max instances × DB_POOL_MAX over the functions, plus the OCR service and the migrations job; keep it below db_max_connections."
  value       = sum([for f in local.functions : f.max_instances * f.db_pool_max]) + 2 + 1
}
