resource "google_storage_bucket" "results" {
  # checkov:skip=CKV_GCP_62:access logs of result downloads add cost and hold user data; Cloud Audit Logs cover admin access
  # checkov:skip=CKV_GCP_78:results are copies of KIE's files, deleted by the lifecycle rule below; versions would only keep deleted copies
  name                        = "${var.project_id}-${var.name}-results"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced" # users get presigned links, never public objects
  force_destroy               = false

  lifecycle_rule {
    condition {
      age            = var.results_retention_days
      matches_prefix = ["results/"]
    }
    action {
      type = "Delete"
    }
  }

  # Large results go up in parts through the S3-compatible API (boto3's upload_fileobj);
  # the parts of an upload that died midway are billed until aborted.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.apis]
}

# Source zips of the functions (one object per content hash).
resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62:build inputs only; Cloud Audit Logs cover access
  # checkov:skip=CKV_GCP_78:each source zip is named by its hash and never overwritten
  name                        = "${var.project_id}-${var.name}-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}
