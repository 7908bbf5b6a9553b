# Shared lookups and names. Each other file holds one kind of resource:
#   pubsub.tf     topics, push / BigQuery / dead-letter subscriptions
#   bigquery.tf   the pipeline_analytics dataset, raw tables, the Vertex AI connection
#   run.tf        Cloud Run services and jobs
#   state.tf      Firestore (subscriber de-duplication) and the exporter's checkpoint bucket
#   secrets.tf    Secret Manager secrets (values are added outside Terraform)
#   kms.tf        customer-managed keys for Pub/Sub and BigQuery
#   iam.tf        service accounts and every role binding
#   wif.tf        Workload Identity Federation for GitHub Actions
#   logging.tf    the CI/CD log sink into pipeline-logs
#   scheduler.tf  Cloud Scheduler: build ticks and the metrics exporter

data "google_project" "this" {
  project_id = var.project_id
}

# BigQuery's encryption service agent (bq-<number>@bigquery-encryption...): reading it
# creates it, so the key grant in kms.tf never names an account that does not exist yet.
data "google_bigquery_default_service_account" "this" {
  project = var.project_id
}

locals {
  # Ingest topics and the raw table each one lands in (ingest/raw_tables.py).
  raw_tables = {
    "github-events"    = "raw_github_events"
    "pipeline-logs"    = "raw_pipeline_logs"
    "pipeline-metrics" = "raw_pipeline_metrics"
  }

  findings_topic = "apoa-findings"

  # One dead-letter topic per source topic; subscriptions on the same topic share it.
  dead_letter_sources = toset(concat(keys(local.raw_tables), [local.findings_topic]))

  # Subscribers on apoa-findings: only those whose image is set are deployed.
  subscriber_images = {
    slack         = var.images.subscriber_slack
    teams         = var.images.subscriber_teams
    github-issues = var.images.subscriber_github_issues
  }
  subscribers = {
    for name, image in local.subscriber_images : name => {
      image  = image
      filter = lookup(var.subscriber_filters, name, "")
      secret = "apoa-${name}-credential"
    } if image != ""
  }

  pubsub_service_agent   = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  bigquery_service_agent = "serviceAccount:${data.google_bigquery_default_service_account.this.email}"

  # The Cloud Logging filter that selects CI/CD logs for pipeline-logs: what the reusable
  # workflow writes (log name var.ci_log_name), Cloud Build, and whatever the user adds.
  ci_log_filter = join(" OR ", compact([
    "logName=\"projects/${var.project_id}/logs/${var.ci_log_name}\"",
    "resource.type=\"build\"",
    var.extra_ci_log_filter == "" ? "" : "(${var.extra_ci_log_filter})",
  ]))

  # Audiences the push subscriptions and the scheduler put in their OIDC tokens. Cloud Run
  # accepts them as custom audiences; the services check them (APOA_PUSH_AUDIENCE).
  audiences = {
    ingest        = "apoa-ingest"
    build_trigger = "apoa-build-trigger"
  }
}

# The APIs APOA uses. Left enabled on destroy: other things in the project may use them.
resource "google_project_service" "enabled" {
  for_each = toset([
    "aiplatform.googleapis.com",
    "bigquery.googleapis.com",
    "bigqueryconnection.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",
  ])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
