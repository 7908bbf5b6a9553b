# Service accounts and role bindings, least privilege: each role is bound on the one topic,
# subscription, dataset, table, secret, service, job, bucket or key that needs it. The few
# project-level bindings are roles with no resource-level binding; each says why.
# No service-account keys: everything runs as its attached service account, and GitHub
# Actions federates (wif.tf).

# --- Service accounts --------------------------------------------------------------------

resource "google_service_account" "receiver" {
  account_id   = "apoa-receiver"
  display_name = "APOA GitHub webhook receiver"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "ingest" {
  account_id   = "apoa-ingest"
  display_name = "APOA ingest (lands push deliveries in BigQuery)"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "push" {
  account_id   = "apoa-push"
  display_name = "APOA Pub/Sub push identity (OIDC tokens on push requests)"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "build_trigger" {
  account_id   = "apoa-build-trigger"
  display_name = "APOA build trigger (starts the build job)"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "build" {
  account_id   = "apoa-build"
  display_name = "APOA build job (dbt build, then publish findings)"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "subscriber" {
  for_each = local.subscribers

  account_id   = "apoa-sub-${each.key}"
  display_name = "APOA ${each.key} subscriber"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "scheduler" {
  account_id   = "apoa-scheduler"
  display_name = "APOA Cloud Scheduler identity"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "exporter" {
  account_id   = "apoa-exporter"
  display_name = "APOA Cloud Monitoring exporter"

  depends_on = [google_project_service.enabled]
}

# The identity GitHub Actions workflows federate into (wif.tf).
resource "google_service_account" "ci" {
  account_id   = "apoa-ci"
  display_name = "APOA CI emitter (runner metrics and failed-step logs from GitHub Actions)"

  depends_on = [google_project_service.enabled]
}

# --- Pub/Sub -------------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "receiver_publishes_github_events" {
  topic  = google_pubsub_topic.ingest["github-events"].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.receiver.member
}

resource "google_pubsub_topic_iam_member" "build_publishes_findings" {
  topic  = google_pubsub_topic.findings.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.build.member
}

resource "google_pubsub_topic_iam_member" "exporter_publishes_metrics" {
  topic  = google_pubsub_topic.ingest["pipeline-metrics"].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.exporter.member
}

resource "google_pubsub_topic_iam_member" "ci_publishes_metrics" {
  topic  = google_pubsub_topic.ingest["pipeline-metrics"].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.ci.member
}

resource "google_pubsub_topic_iam_member" "sink_publishes_logs" {
  topic  = google_pubsub_topic.ingest["pipeline-logs"].id
  role   = "roles/pubsub.publisher"
  member = google_logging_project_sink.ci_logs.writer_identity
}

# Pub/Sub's service agent forwards undeliverable messages to the dead-letter topics, and
# must be a subscriber on each subscription it forwards from.
resource "google_pubsub_topic_iam_member" "service_agent_publishes_dead_letters" {
  for_each = local.dead_letter_sources

  topic  = google_pubsub_topic.dead_letter[each.key].id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "service_agent_forwards_ingest" {
  for_each = local.raw_tables

  subscription = google_pubsub_subscription.ingest[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "service_agent_forwards_build_trigger" {
  subscription = google_pubsub_subscription.build_trigger.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "service_agent_forwards_subscriber" {
  for_each = local.subscribers

  subscription = google_pubsub_subscription.subscriber[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "service_agent_forwards_findings_bigquery" {
  subscription = google_pubsub_subscription.findings_bigquery.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Pub/Sub's service agent mints the OIDC tokens push requests carry, as apoa-push.
resource "google_service_account_iam_member" "service_agent_signs_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# --- BigQuery ------------------------------------------------------------------------------

resource "google_bigquery_dataset_iam_member" "ingest_edits_analytics" {
  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.ingest.member
}

resource "google_bigquery_dataset_iam_member" "build_edits_analytics" {
  dataset_id = google_bigquery_dataset.analytics.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.build.member
}

resource "google_bigquery_dataset_iam_member" "build_edits_state" {
  dataset_id = google_bigquery_dataset.state.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.build.member
}

# The BigQuery subscription writes as Pub/Sub's service agent, into this one table.
resource "google_bigquery_table_iam_member" "service_agent_writes_finding_events" {
  dataset_id = google_bigquery_dataset.analytics.dataset_id
  table_id   = google_bigquery_table.finding_events.table_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_service_agent
}

# Query and load jobs are project resources: bigquery.jobs.create exists only on a
# project, so Job User cannot be bound on the dataset. It grants running jobs, not data.
resource "google_project_iam_member" "ingest_runs_bigquery_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.ingest.member
}

resource "google_project_iam_member" "build_runs_bigquery_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.build.member
}

resource "google_bigquery_connection_iam_member" "build_uses_vertex_connection" {
  location      = google_bigquery_connection.vertex.location
  connection_id = google_bigquery_connection.vertex.connection_id
  role          = "roles/bigquery.connectionUser"
  member        = google_service_account.build.member
}

# Vertex AI User for the connection BigQuery ML calls Vertex AI endpoints through. Vertex
# AI endpoints have no IAM policy of their own in the GA provider: project level only.
resource "google_project_iam_member" "vertex_connection_predicts" {
  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = "serviceAccount:${google_bigquery_connection.vertex.cloud_resource[0].service_account_id}"
}

# --- Cloud Run -----------------------------------------------------------------------------

# GitHub delivers webhooks without a Google identity: the receiver is public and
# authenticates every request by its X-Hub-Signature-256 HMAC (ingest/webhook.py).
resource "google_cloud_run_v2_service_iam_member" "public_invokes_receiver" {
  name     = google_cloud_run_v2_service.receiver.name
  location = google_cloud_run_v2_service.receiver.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "push_invokes_ingest" {
  name     = google_cloud_run_v2_service.ingest.name
  location = google_cloud_run_v2_service.ingest.location
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

resource "google_cloud_run_v2_service_iam_member" "push_invokes_build_trigger" {
  name     = google_cloud_run_v2_service.build_trigger.name
  location = google_cloud_run_v2_service.build_trigger.location
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_build_trigger" {
  name     = google_cloud_run_v2_service.build_trigger.name
  location = google_cloud_run_v2_service.build_trigger.location
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

resource "google_cloud_run_v2_service_iam_member" "push_invokes_subscriber" {
  for_each = local.subscribers

  name     = google_cloud_run_v2_service.subscriber[each.key].name
  location = google_cloud_run_v2_service.subscriber[each.key].location
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# The build trigger starts the build job (run.jobs.run) and lists its executions to see
# whether one is running (run.executions.list): both on this job only.
resource "google_cloud_run_v2_job_iam_member" "build_trigger_runs_build" {
  for_each = toset(["roles/run.invoker", "roles/run.viewer"])

  name     = google_cloud_run_v2_job.build.name
  location = google_cloud_run_v2_job.build.location
  role     = each.value
  member   = google_service_account.build_trigger.member
}

resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_exporter" {
  name     = google_cloud_run_v2_job.exporter.name
  location = google_cloud_run_v2_job.exporter.location
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# --- Secrets, Firestore, Storage, Monitoring, Logging, Trace -----------------------------

resource "google_secret_manager_secret_iam_member" "receiver_reads_webhook_secret" {
  secret_id = google_secret_manager_secret.github_webhook.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.receiver.member
}

resource "google_secret_manager_secret_iam_member" "subscriber_reads_credential" {
  for_each = local.subscribers

  secret_id = google_secret_manager_secret.subscriber[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.subscriber[each.key].member
}

# Firestore has no database-level IAM policy: roles are granted on the project. The
# condition narrows Datastore User to the de-duplication database.
resource "google_project_iam_member" "subscriber_uses_dedup_database" {
  for_each = local.subscribers

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.subscriber[each.key].member

  condition {
    title      = "apoa-dedup-only"
    expression = "resource.name.startsWith(\"${google_firestore_database.dedup.id}\")"
  }
}

resource "google_storage_bucket_iam_member" "exporter_keeps_checkpoint" {
  bucket = google_storage_bucket.exporter_state.name
  role   = "roles/storage.objectUser"
  member = google_service_account.exporter.member
}

# Reading time series is a project permission (monitoring.timeSeries.list): metrics have
# no IAM of their own. A custom role holding that one permission, instead of Monitoring
# Viewer (which also reads dashboards, alerting policies, uptime checks, ...).
resource "google_project_iam_custom_role" "timeseries_reader" {
  role_id     = "apoaTimeSeriesReader"
  title       = "APOA time-series reader"
  description = "List Cloud Monitoring time series, nothing else."
  permissions = ["monitoring.timeSeries.list"]
}

resource "google_project_iam_member" "exporter_reads_timeseries" {
  project = var.project_id
  role    = google_project_iam_custom_role.timeseries_reader.id
  member  = google_service_account.exporter.member
}

# Log entries are written to the project's log router: logging.logEntries.create has no
# narrower resource (per-log IAM does not exist), so Logs Writer is project-level.
resource "google_project_iam_member" "ci_writes_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.ci.member
}

# Traces are written to the project (cloudtrace.traces.patch); there is no per-trace IAM.
resource "google_project_iam_member" "writes_traces" {
  for_each = {
    receiver = google_service_account.receiver.member
    ingest   = google_service_account.ingest.member
    build    = google_service_account.build.member
  }

  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = each.value
}

# --- Keys ----------------------------------------------------------------------------------

resource "google_kms_crypto_key_iam_member" "pubsub_uses_key" {
  crypto_key_id = google_kms_crypto_key.pubsub.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_service_agent
}

resource "google_kms_crypto_key_iam_member" "bigquery_uses_key" {
  crypto_key_id = google_kms_crypto_key.bigquery.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.bigquery_service_agent
}
