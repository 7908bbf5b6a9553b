# The CI/CD log sink: entries matching local.ci_log_filter (main.tf) go to pipeline-logs,
# where the ingest subscription lands them in raw_pipeline_logs. APOA's own services log
# under other names, so the sink never feeds ingest's logs back into ingest.

resource "google_logging_project_sink" "ci_logs" {
  name                   = "apoa-ci-logs"
  description            = "CI/CD logs (GitHub Actions failed steps, Cloud Build) for APOA."
  destination            = "pubsub.googleapis.com/${google_pubsub_topic.ingest["pipeline-logs"].id}"
  filter                 = local.ci_log_filter
  unique_writer_identity = true
}
