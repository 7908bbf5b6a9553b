# Customer-managed encryption keys: one for Pub/Sub (in var.region, where topics store
# messages) and one for BigQuery (in the dataset's location, as BigQuery requires).
# Keys rotate every 90 days; old versions stay enabled, so existing data stays readable.
# Disabling or destroying a key makes the data under it unreadable: the keys are protected
# from `terraform destroy`.

resource "google_kms_key_ring" "pubsub" {
  name     = "apoa-pubsub"
  location = var.region

  depends_on = [google_project_service.enabled]
}

resource "google_kms_crypto_key" "pubsub" {
  name            = "apoa-pubsub"
  key_ring        = google_kms_key_ring.pubsub.id
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_key_ring" "bigquery" {
  name     = "apoa-bigquery"
  location = lower(var.bigquery_location)

  depends_on = [google_project_service.enabled]
}

resource "google_kms_crypto_key" "bigquery" {
  name            = "apoa-bigquery"
  key_ring        = google_kms_key_ring.bigquery.id
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}
