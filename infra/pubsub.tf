# Topics and subscriptions.
#
# Every push subscription authenticates to Cloud Run with an OIDC token from the push
# service account, retries with exponential backoff and, after var.max_delivery_attempts,
# moves the message to its source topic's dead-letter topic, where a pull subscription
# keeps it 7 days for inspection and replay (docs/deploy.md).

locals {
  retry_minimum_backoff = "10s"
  retry_maximum_backoff = "600s"
  week                  = "604800s"
}

resource "google_pubsub_topic" "ingest" {
  for_each = local.raw_tables

  name                       = each.key
  kms_key_name               = google_kms_crypto_key.pubsub.id
  message_retention_duration = var.topic_message_retention

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_kms_crypto_key_iam_member.pubsub_uses_key]
}

resource "google_pubsub_topic" "findings" {
  name                       = local.findings_topic
  kms_key_name               = google_kms_crypto_key.pubsub.id
  message_retention_duration = var.topic_message_retention

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_kms_crypto_key_iam_member.pubsub_uses_key]
}

resource "google_pubsub_topic" "dead_letter" {
  for_each = local.dead_letter_sources

  name         = "${each.key}-dead-letter"
  kms_key_name = google_kms_crypto_key.pubsub.id

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_kms_crypto_key_iam_member.pubsub_uses_key]
}

# Keeps dead-lettered messages (a topic without subscriptions drops what it receives).
resource "google_pubsub_subscription" "dead_letter_hold" {
  for_each = local.dead_letter_sources

  name                       = "${each.key}-dead-letter-hold"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  message_retention_duration = local.week
  retain_acked_messages      = true
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

# Ingest: one push subscription per ingest topic, all to the one ingest service, which
# reads the topic from the path (/push/<topic>).
resource "google_pubsub_subscription" "ingest" {
  for_each = local.raw_tables

  name                       = "apoa-ingest-${each.key}"
  topic                      = google_pubsub_topic.ingest[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = local.week

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.ingest.uri}/push/${each.key}"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.audiences.ingest
    }
  }

  retry_policy {
    minimum_backoff = local.retry_minimum_backoff
    maximum_backoff = local.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.service_agent_publishes_dead_letters,
    google_service_account_iam_member.service_agent_signs_push_tokens,
  ]
}

# Build trigger: completed workflow runs and jobs only. Pub/Sub filters see attributes, not
# the body, so the receiver sets `github_event` and `github_action` (the payload's action).
resource "google_pubsub_subscription" "build_trigger" {
  name                       = "apoa-build-trigger"
  topic                      = google_pubsub_topic.ingest["github-events"].id
  ack_deadline_seconds       = 30
  message_retention_duration = "86400s"
  filter                     = "(attributes.github_event = \"workflow_run\" OR attributes.github_event = \"workflow_job\") AND attributes.github_action = \"completed\""

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.build_trigger.uri}/events"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.audiences.build_trigger
    }
  }

  retry_policy {
    minimum_backoff = local.retry_minimum_backoff
    maximum_backoff = local.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter["github-events"].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.service_agent_publishes_dead_letters,
    google_service_account_iam_member.service_agent_signs_push_tokens,
  ]
}

# Subscribers on apoa-findings, each filtered on the finding's attributes.
resource "google_pubsub_subscription" "subscriber" {
  for_each = local.subscribers

  name                       = "apoa-findings-${each.key}"
  topic                      = google_pubsub_topic.findings.id
  ack_deadline_seconds       = 60
  message_retention_duration = local.week
  filter                     = each.value.filter

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.subscriber[each.key].uri}/"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = "apoa-${each.key}"
    }
  }

  retry_policy {
    minimum_backoff = local.retry_minimum_backoff
    maximum_backoff = local.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[local.findings_topic].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.service_agent_publishes_dead_letters,
    google_service_account_iam_member.service_agent_signs_push_tokens,
  ]
}

# Every finding event, as published, into raw_finding_events (the BigQuery subscription's
# standard columns: subscription_name, message_id, publish_time, data, attributes).
resource "google_pubsub_subscription" "findings_bigquery" {
  name                       = "apoa-findings-bigquery"
  topic                      = google_pubsub_topic.findings.id
  message_retention_duration = local.week

  bigquery_config {
    table          = "${var.project_id}.${google_bigquery_dataset.analytics.dataset_id}.${google_bigquery_table.finding_events.table_id}"
    write_metadata = true
  }

  retry_policy {
    minimum_backoff = local.retry_minimum_backoff
    maximum_backoff = local.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[local.findings_topic].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_bigquery_table_iam_member.service_agent_writes_finding_events,
    google_pubsub_topic_iam_member.service_agent_publishes_dead_letters,
  ]
}
