# ocr_receipt as a Cloud Run service from ocr/Dockerfile: the Cloud Functions runtime has
# no tesseract. Same settings and secrets as the functions; invoked only by Cloud Tasks.
resource "google_cloud_run_v2_service" "ocr" {
  name                = "${var.name}-ocr-receipt"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL" # IAM below: only the tasks identity may invoke
  deletion_protection = false

  template {
    service_account                  = google_service_account.runtime.email
    timeout                          = "300s"
    max_instance_request_concurrency = 1 # tesseract takes the CPU for a second per receipt

    scaling {
      min_instance_count = 0
      max_instance_count = 2
    }

    vpc_access {
      connector = google_vpc_access_connector.main.id
      egress    = "PRIVATE_RANGES_ONLY"
    }

    containers {
      image = var.ocr_image

      resources {
        limits = {
          cpu    = "1"
          memory = "1Gi"
        }
      }

      dynamic "env" {
        for_each = merge(local.env, { DB_POOL_MAX = "1" })
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.all[env.key].secret_id
              version = "latest"
            }
          }
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.runtime,
    google_secret_manager_secret_version.database_url,
    google_secret_manager_secret_version.object_store_access_key_id,
    google_secret_manager_secret_version.object_store_secret_access_key,
  ]
}

resource "google_cloud_run_v2_service_iam_member" "ocr_tasks_invoker" {
  name     = google_cloud_run_v2_service.ocr.name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.tasks.email}"
}

# Database migrations, run by the operator before the functions of a release that adds one
# (docs/OPERATIONS.md, "Releasing a new version"):
#   gcloud run jobs execute kie-studio-migrate --region=REGION --wait
# It runs the migrations inside ocr_image: a release rebuilds that image first. (The same
# image as OCR; Cloud SQL is reachable only from inside the VPC.)
resource "google_cloud_run_v2_job" "migrate" {
  name                = "${var.name}-migrate"
  location            = var.region
  deletion_protection = false

  template {
    task_count = 1
    template {
      service_account = google_service_account.runtime.email
      max_retries     = 0
      timeout         = "600s"

      vpc_access {
        connector = google_vpc_access_connector.main.id
        egress    = "PRIVATE_RANGES_ONLY"
      }

      containers {
        image = var.ocr_image
        args = [
          "python", "-c",
          "from shared.adapters.migrate import migrate; from shared.bootstrap import get_database; print('applied:', migrate(get_database()) or 'nothing new')",
        ]

        dynamic "env" {
          for_each = merge(local.env, { DB_POOL_MAX = "1" })
          content {
            name  = env.key
            value = env.value
          }
        }

        dynamic "env" {
          for_each = local.secret_env
          content {
            name = env.key
            value_source {
              secret_key_ref {
                secret  = google_secret_manager_secret.all[env.key].secret_id
                version = "latest"
              }
            }
          }
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.runtime,
    google_secret_manager_secret_version.database_url,
  ]
}
