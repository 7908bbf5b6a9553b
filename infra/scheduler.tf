# Cloud Scheduler. The build schedule calls the build-trigger service, never the job
# itself: the trigger starts the job only when no execution is running, so a tick and a
# burst of GitHub events cannot start two overlapping builds. The exporter is called
# directly (Cloud Run Admin API jobs.run); its timeout is shorter than its period.

resource "google_cloud_scheduler_job" "build_tick" {
  name             = "apoa-build-tick"
  description      = "Ask the build trigger for a dbt build + publish, if none is running."
  region           = var.region
  schedule         = var.build_schedule
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "60s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${google_cloud_run_v2_service.build_trigger.uri}/tick"

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = local.audiences.build_trigger
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_build_trigger]
}

resource "google_cloud_scheduler_job" "exporter" {
  name             = "apoa-metrics-exporter"
  description      = "Copy new Cloud Monitoring points to pipeline-metrics."
  region           = var.region
  schedule         = var.exporter_schedule
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "60s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/${google_cloud_run_v2_job.exporter.id}:run"

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler_runs_exporter]
}
