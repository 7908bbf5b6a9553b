output "webhook_url" {
  description = "Payload URL for the GitHub webhook (workflow_run and workflow_job events)."
  value       = google_cloud_run_v2_service.receiver.uri
}

output "workload_identity_provider" {
  description = "Pass as the reusable workflow's workload-identity-provider input."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "ci_service_account" {
  description = "Pass as the reusable workflow's service-account input."
  value       = google_service_account.ci.email
}

output "metrics_topic" {
  description = "Topic the reusable workflow and the exporter publish runner metrics to."
  value       = google_pubsub_topic.ingest["pipeline-metrics"].name
}

output "ci_log_name" {
  description = "Log name the reusable workflow writes failed steps' lines to."
  value       = var.ci_log_name
}

output "dataset" {
  description = "The BigQuery dataset APOA lands raw rows in and dbt builds into."
  value       = google_bigquery_dataset.analytics.id
}

output "build_job" {
  description = "The Cloud Run job that runs dbt build and then publishes findings."
  value       = google_cloud_run_v2_job.build.id
}

output "secrets_to_fill" {
  description = "Secret Manager secrets whose first version you add (docs/deploy.md)."
  value = concat(
    [google_secret_manager_secret.github_webhook.secret_id],
    [for secret in google_secret_manager_secret.subscriber : secret.secret_id],
  )
}
