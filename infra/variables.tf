variable "project_id" {
  description = "The Google Cloud project APOA is deployed into."
  type        = string
}

variable "region" {
  description = "Region for Cloud Run, Cloud Scheduler, the Pub/Sub key and message storage."
  type        = string
  default     = "us-central1"
}

variable "bigquery_location" {
  description = "Location of the pipeline_analytics dataset (a multi-region such as US or EU, or a region)."
  type        = string
  default     = "US"
}

variable "firestore_location" {
  description = "Location of the Firestore database subscribers de-duplicate in (nam5 = US multi-region)."
  type        = string
  default     = "nam5"
}

variable "images" {
  description = <<-EOT
    Container images, built elsewhere (docker/). receiver and ingest are docker/functions.Dockerfile
    with FUNCTION_TARGET github_webhook and ingest_push; build is docker/builder.Dockerfile (dbt build,
    then apoa publish); exporter runs `python -m exporter`. A subscriber whose image is "" is not deployed.
  EOT
  type = object({
    receiver                 = string
    ingest                   = string
    build                    = string
    build_trigger            = string
    exporter                 = string
    subscriber_slack         = optional(string, "")
    subscriber_teams         = optional(string, "")
    subscriber_github_issues = optional(string, "")
  })
}

variable "github_owner" {
  description = "GitHub organization or user whose workflows may federate (checked in the provider's attribute_condition)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]*$", var.github_owner))
    error_message = "github_owner is an organization or user name, such as my-org."
  }
}

variable "github_repositories" {
  description = "Repositories (owner/name) whose workflows may publish runner metrics and write CI logs."
  type        = list(string)

  validation {
    condition     = length(var.github_repositories) > 0 && alltrue([for repo in var.github_repositories : can(regex("^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$", repo))])
    error_message = "List at least one repository, each as owner/name."
  }
}

variable "ci_log_name" {
  description = "Log name the reusable workflow writes failed steps' lines to; the sink selects it."
  type        = string
  default     = "apoa-ci"
}

variable "extra_ci_log_filter" {
  description = "Optional Logging filter OR-ed into the CI/CD sink (e.g. your deploy jobs' logs)."
  type        = string
  default     = ""
}

variable "subscriber_filters" {
  description = "Pub/Sub filter per subscriber on apoa-findings attributes (kind, severity, status, repository)."
  type        = map(string)
  default = {
    slack         = "attributes.severity = \"critical\" OR attributes.severity = \"warning\""
    teams         = "attributes.severity = \"critical\""
    github-issues = "attributes.severity = \"critical\" AND attributes.kind = \"failure_rate\""
  }
}

variable "build_schedule" {
  description = "Cron (in scheduler_time_zone) on which Cloud Scheduler asks the build-trigger service for a build."
  type        = string
  default     = "*/30 * * * *"
}

variable "build_debounce_seconds" {
  description = "The build-trigger service waits this long after the last completed run or job before starting a build."
  type        = number
  default     = 120
}

variable "build_timeout_seconds" {
  description = "Upper bound on one dbt build + publish execution."
  type        = number
  default     = 3600
}

variable "exporter_schedule" {
  description = "Cron on which the metrics exporter job runs. Keep its period above exporter_timeout_seconds."
  type        = string
  default     = "*/5 * * * *"
}

variable "exporter_timeout_seconds" {
  description = "Task timeout of the exporter; shorter than the schedule's period so two runs never overlap."
  type        = number
  default     = 240
}

variable "exporter_metric_types" {
  description = "Cloud Monitoring metric types the exporter copies to pipeline-metrics."
  type        = list(string)
  default = [
    "run.googleapis.com/container/cpu/utilizations",
    "run.googleapis.com/container/memory/utilizations",
    "run.googleapis.com/job/completed_task_attempt_count",
    "kubernetes.io/container/cpu/core_usage_time",
    "kubernetes.io/container/memory/used_bytes",
  ]
}

variable "scheduler_time_zone" {
  description = "Time zone of both schedules."
  type        = string
  default     = "Etc/UTC"
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub moves it to the dead-letter topic (5 to 100)."
  type        = number
  default     = 10
}

variable "topic_message_retention" {
  description = "How long ingest and findings topics keep every message for replay (seek); billed as Pub/Sub storage."
  type        = string
  default     = "86400s"
}

variable "raw_partition_expiration_days" {
  description = "Days a raw-table partition is kept (null keeps them forever). Marts hold the history models need."
  type        = number
  default     = 400
}
