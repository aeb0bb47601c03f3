# Google Cloud deploy (Cloud Functions gen2, Cloud Run for OCR, Cloud SQL, Cloud Tasks,
# Cloud Scheduler, Secret Manager, Cloud Storage). docs/OPERATIONS.md: first deploy, step by step.
terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }

  # Keep state in a bucket for a team (the state holds the database password):
  # backend "gcs" { bucket = "YOUR-STATE-BUCKET" prefix = "kie-studio" }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
