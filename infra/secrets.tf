# One Secret Manager secret per secret setting. Values of operator_secrets are added with
# gcloud (docs/OPERATIONS.md), never through Terraform, so they stay out of its state.
resource "google_secret_manager_secret" "all" {
  for_each  = local.secret_env
  secret_id = each.value

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "database_url" {
  secret      = google_secret_manager_secret.all["DATABASE_URL"].id
  secret_data = "postgresql://${google_sql_user.app.name}:${random_password.db.result}@${google_sql_database_instance.main.private_ip_address}:5432/${google_sql_database.app.name}?sslmode=require"
}

resource "google_secret_manager_secret_version" "object_store_access_key_id" {
  secret      = google_secret_manager_secret.all["OBJECT_STORE_ACCESS_KEY_ID"].id
  secret_data = google_storage_hmac_key.results.access_id
}

resource "google_secret_manager_secret_version" "object_store_secret_access_key" {
  secret      = google_secret_manager_secret.all["OBJECT_STORE_SECRET_ACCESS_KEY"].id
  secret_data = google_storage_hmac_key.results.secret
}

# Only the application's identity reads them, secret by secret.
resource "google_secret_manager_secret_iam_member" "runtime" {
  for_each  = local.secret_env
  secret_id = google_secret_manager_secret.all[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime.email}"
}
