# Identities, each with only what it does:
#   runtime   every function, the OCR service and the migrations job: reads its secrets,
#             creates tasks in the three queues, names `tasks` as their OIDC identity
#   tasks     Cloud Tasks' OIDC identity: may invoke submit_job, deliver_result, ocr
#   scheduler Cloud Scheduler's OIDC identity: may invoke sweeper
#   storage   owns the HMAC key the S3 client uses on the results bucket, objects only
#   build     Cloud Build for the functions: writes logs and images, reads the sources
resource "google_service_account" "runtime" {
  account_id   = "${var.name}-run"
  display_name = "KIE Studio functions (runtime)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "tasks" {
  account_id   = "${var.name}-tasks"
  display_name = "KIE Studio Cloud Tasks invoker (OIDC)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "scheduler" {
  account_id   = "${var.name}-sched"
  display_name = "KIE Studio Cloud Scheduler invoker (OIDC)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "storage" {
  account_id   = "${var.name}-store"
  display_name = "KIE Studio results bucket (HMAC key)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "build" {
  account_id   = "${var.name}-build"
  display_name = "KIE Studio function builds"
  depends_on   = [google_project_service.apis]
}

# The runtime creates tasks whose OIDC token is minted for `tasks`: it needs actAs on it.
resource "google_service_account_iam_member" "runtime_acts_as_tasks" {
  service_account_id = google_service_account.tasks.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_cloud_tasks_queue_iam_member" "runtime_enqueues" {
  for_each = {
    submit  = google_cloud_tasks_queue.submit.name
    deliver = google_cloud_tasks_queue.deliver.name
    ocr     = google_cloud_tasks_queue.ocr.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.runtime.email}"
}

# The roles Google lists for a custom build account. Storage is read project-wide: the
# build reads the source zip from Cloud Functions' own gcf-v2-sources-<number>-<region>
# bucket, where the upload is copied, not from our sources bucket.
resource "google_project_iam_member" "build" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
    "roles/storage.objectViewer",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build.email}"
}

resource "google_storage_bucket_iam_member" "storage_objects" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.storage.email}"
}

resource "google_storage_hmac_key" "results" {
  service_account_email = google_service_account.storage.email
}
