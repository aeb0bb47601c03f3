variable "project_id" {
  description = "Google Cloud project id that holds everything."
  type        = string
}

variable "region" {
  description = "Region of the functions, Cloud SQL, queues and the bucket (e.g. europe-west1)."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Prefix of every resource name (lowercase letters, digits, hyphens)."
  type        = string
  default     = "kie-studio"
}

variable "db_tier" {
  description = "Cloud SQL machine tier. db-custom-1-3840 allows ~100 connections; db-f1-micro only 25."
  type        = string
  default     = "db-custom-1-3840"
}

variable "db_max_connections" {
  description = "Postgres max_connections; must exceed the sum over functions of max instances × DB_POOL_MAX (outputs.connection_budget)."
  type        = number
  default     = 100
}

variable "db_availability_type" {
  description = "ZONAL (cheaper) or REGIONAL (a standby in another zone)."
  type        = string
  default     = "ZONAL"
}

variable "db_backup_retained_count" {
  description = "Daily backups kept (point-in-time recovery covers the last 7 days)."
  type        = number
  default     = 14
}

variable "vpc_connector_cidr" {
  description = "A free /28 in the VPC for the Serverless VPC Access connector (functions → Cloud SQL's private IP)."
  type        = string
  default     = "10.8.0.0/28"
}

variable "ocr_image" {
  description = "Container image of ocr/Dockerfile in Artifact Registry, e.g. europe-west1-docker.pkg.dev/PROJECT/kie-studio/ocr:2026-12-01. It also runs the migrations job."
  type        = string
}

variable "results_retention_days" {
  description = "Archived results (results/<job>/…) are deleted after this many days."
  type        = number
  default     = 180
}

variable "settings" {
  description = "Plain (non-secret) settings for every function: name → value, as shared/config.py reads them (e.g. PRICE_MARKUP, SIGNUP_BONUS_KOPECKS, ADMIN_TELEGRAM_IDS as JSON). Secrets never go here."
  type        = map(string)
  default     = {}
}

variable "webhook_min_instances" {
  description = "Warm instances of telegram_webhook (aiogram's import costs seconds on a cold start)."
  type        = number
  default     = 1
}
