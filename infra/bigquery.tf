# The warehouse: pipeline_analytics holds the raw landing tables (written by ingest and by
# the findings BigQuery subscription) and everything dbt builds from them. apoa_state holds
# the publisher's ledger of published finding events.
#
# Access is granted with IAM members (iam.tf), never with authoritative `access` blocks.

locals {
  raw_partition_expiration_ms = var.raw_partition_expiration_days == null ? null : var.raw_partition_expiration_days * 86400000
}

resource "google_bigquery_dataset" "analytics" {
  dataset_id    = "pipeline_analytics"
  friendly_name = "APOA pipeline analytics"
  description   = "Raw CI/CD events, logs and metrics landed by APOA, and the dbt models built on them."
  location      = var.bigquery_location

  default_encryption_configuration {
    kms_key_name = google_kms_crypto_key.bigquery.id
  }

  depends_on = [google_kms_crypto_key_iam_member.bigquery_uses_key]
}

resource "google_bigquery_dataset" "state" {
  dataset_id  = "apoa_state"
  description = "APOA's own bookkeeping (the publisher's ledger of published finding events)."
  location    = var.bigquery_location

  default_encryption_configuration {
    kms_key_name = google_kms_crypto_key.bigquery.id
  }

  depends_on = [google_kms_crypto_key_iam_member.bigquery_uses_key]
}

# raw_github_events, raw_pipeline_logs, raw_pipeline_metrics: one row per Pub/Sub message.
# Day partitions on ingested_at let each scheduled build scan only the recent partitions;
# clustering on load_seq makes "rows after the last one processed" read few blocks.
resource "google_bigquery_table" "raw" {
  for_each = local.raw_tables

  dataset_id  = google_bigquery_dataset.analytics.dataset_id
  table_id    = each.value
  description = "One row per message delivered on the ${each.key} topic, landed unparsed by ingest."
  schema      = file("${path.module}/schemas/raw_message.json")
  clustering  = ["load_seq", "message_id"]

  time_partitioning {
    type          = "DAY"
    field         = "ingested_at"
    expiration_ms = local.raw_partition_expiration_ms
  }

  encryption_configuration {
    kms_key_name = google_kms_crypto_key.bigquery.id
  }

  deletion_protection = true
}

resource "google_bigquery_table" "dead_letters" {
  dataset_id  = google_bigquery_dataset.analytics.dataset_id
  table_id    = "raw_dead_letters"
  description = "One row per body ingest could never land as a message, with the reason."
  schema      = file("${path.module}/schemas/raw_dead_letters.json")
  clustering  = ["topic", "reason"]

  time_partitioning {
    type          = "DAY"
    field         = "received_at"
    expiration_ms = local.raw_partition_expiration_ms
  }

  encryption_configuration {
    kms_key_name = google_kms_crypto_key.bigquery.id
  }

  deletion_protection = true
}

resource "google_bigquery_table" "finding_events" {
  dataset_id  = google_bigquery_dataset.analytics.dataset_id
  table_id    = "raw_finding_events"
  description = "One row per finding event published to apoa-findings, written by a BigQuery subscription."
  schema      = file("${path.module}/schemas/raw_finding_events.json")
  clustering  = ["message_id"]

  time_partitioning {
    type  = "DAY"
    field = "publish_time"
  }

  encryption_configuration {
    kms_key_name = google_kms_crypto_key.bigquery.id
  }

  deletion_protection = true
}

# For a Vertex-AI-backed remote model (the design's pluggable scorer): BigQuery calls the
# Vertex AI endpoint as this connection's own service account.
resource "google_bigquery_connection" "vertex" {
  connection_id = "apoa-vertex"
  location      = var.bigquery_location
  description   = "BigQuery ML remote models on Vertex AI endpoints."

  cloud_resource {}

  depends_on = [google_project_service.enabled]
}
