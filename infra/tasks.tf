# Cloud Tasks queues with explicit limits (Google's defaults retry for a long time and
# dispatch up to 500/s). A task stops only when BOTH max_attempts and max_retry_duration
# are used up. The sweeper requeues work stuck for minutes, so a dropped task is not lost.

# submit_job → KIE createTask. KIE limits new tasks per account (about 20 per 10 s);
# a 429 comes back as 503 + Retry-After and the queue backs off.
resource "google_cloud_tasks_queue" "submit" {
  name     = "${var.name}-submit"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 2
    max_concurrent_dispatches = 10
  }

  retry_config {
    max_attempts       = 50
    max_retry_duration = "21600s" # 6 h: the hold of a job outlives it
    min_backoff        = "5s"
    max_backoff        = "300s"
    max_doublings      = 5
  }

  depends_on = [google_project_service.apis]
}

# deliver_result → Telegram. Telegram allows about 30 messages/s in all and 1/s per chat;
# a delivery sends one to three messages, so 10 dispatches/s stays under the bot's limit.
# A 429 returns 503 + Retry-After (Telegram's retry_after).
resource "google_cloud_tasks_queue" "deliver" {
  name     = "${var.name}-deliver"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 10
    max_concurrent_dispatches = 20
  }

  retry_config {
    max_attempts       = 30
    max_retry_duration = "86400s"
    min_backoff        = "2s"
    max_backoff        = "600s"
    max_doublings      = 6
  }

  depends_on = [google_project_service.apis]
}

# ocr_receipt → tesseract, then the admins' card in Telegram. Slow and rare.
resource "google_cloud_tasks_queue" "ocr" {
  name     = "${var.name}-ocr"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 1
    max_concurrent_dispatches = 2
  }

  retry_config {
    max_attempts       = 10
    max_retry_duration = "3600s"
    min_backoff        = "10s"
    max_backoff        = "300s"
    max_doublings      = 4
  }

  depends_on = [google_project_service.apis]
}
