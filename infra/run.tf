# Cloud Run services and jobs. Images are inputs (var.images); each runs as its own
# service account (iam.tf). Only the webhook receiver takes traffic from the internet:
# everything else accepts internal traffic only, which includes Pub/Sub push and Cloud
# Scheduler calls from this project, and still requires an OIDC token with run.invoker.

locals {
  common_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    APOA_PUBSUB_PROJECT  = var.project_id
    APOA_OTEL_EXPORTER   = "gcp"
  }
}

# The public GitHub webhook receiver: verifies X-Hub-Signature-256, publishes to github-events.
# Public on purpose: GitHub cannot present a Google identity, so allUsers may invoke it
# (iam.tf) and the receiver authenticates each request by its HMAC signature instead.
resource "google_cloud_run_v2_service" "receiver" {
  name     = "apoa-receiver"
  location = var.region
  ingress  = "INGRESS_TRAFFIC_ALL"

  template {
    service_account                  = google_service_account.receiver.email
    max_instance_request_concurrency = 80
    timeout                          = "30s"

    scaling {
      max_instance_count = 10
    }

    containers {
      image = var.images.receiver

      dynamic "env" {
        for_each = local.common_env
        content {
          name  = env.key
          value = env.value
        }
      }

      env {
        name = "APOA_GITHUB_WEBHOOK_SECRET"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.github_webhook.secret_id
            version = "latest"
          }
        }
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle = true
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.receiver_reads_webhook_secret]
}

# Ingest: lands push deliveries from the three ingest subscriptions in the raw tables.
resource "google_cloud_run_v2_service" "ingest" {
  name             = "apoa-ingest"
  location         = var.region
  ingress          = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  custom_audiences = [local.audiences.ingest]

  template {
    service_account                  = google_service_account.ingest.email
    max_instance_request_concurrency = 80
    timeout                          = "60s"

    scaling {
      max_instance_count = 20
    }

    containers {
      image = var.images.ingest

      dynamic "env" {
        for_each = merge(local.common_env, {
          APOA_WAREHOUSE            = "bigquery"
          APOA_BQ_PROJECT           = var.project_id
          APOA_BQ_DATASET           = google_bigquery_dataset.analytics.dataset_id
          APOA_BQ_LOCATION          = var.bigquery_location
          APOA_PUSH_AUDIENCE        = local.audiences.ingest
          APOA_PUSH_SERVICE_ACCOUNT = google_service_account.push.email
        })
        content {
          name  = env.key
          value = env.value
        }
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "1Gi"
        }
        cpu_idle = true
      }
    }
  }
}

# Build trigger: one instance at most, so its debounce and "is a build running?" check
# never race a second copy. Fed by the filtered github-events subscription (/events) and by
# Cloud Scheduler (/tick); it starts the build job only when no execution is running.
resource "google_cloud_run_v2_service" "build_trigger" {
  name             = "apoa-build-trigger"
  location         = var.region
  ingress          = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  custom_audiences = [local.audiences.build_trigger]

  template {
    service_account                  = google_service_account.build_trigger.email
    max_instance_request_concurrency = 10
    timeout                          = "60s"

    scaling {
      min_instance_count = 0
      max_instance_count = 1
    }

    containers {
      image = var.images.build_trigger

      dynamic "env" {
        for_each = merge(local.common_env, {
          APOA_BUILD_JOB              = google_cloud_run_v2_job.build.id
          APOA_BUILD_DEBOUNCE_SECONDS = tostring(var.build_debounce_seconds)
          APOA_PUSH_AUDIENCE          = local.audiences.build_trigger
          APOA_PUSH_SERVICE_ACCOUNTS  = "${google_service_account.push.email},${google_service_account.scheduler.email}"
        })
        content {
          name  = env.key
          value = env.value
        }
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "256Mi"
        }
        cpu_idle = true
      }
    }
  }
}

# Subscribers: Slack, Teams, GitHub issues. Each de-duplicates on event_id in Firestore.
resource "google_cloud_run_v2_service" "subscriber" {
  for_each = local.subscribers

  name             = "apoa-${each.key}"
  location         = var.region
  ingress          = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  custom_audiences = ["apoa-${each.key}"]

  template {
    service_account                  = google_service_account.subscriber[each.key].email
    max_instance_request_concurrency = 20
    timeout                          = "60s"

    scaling {
      max_instance_count = 3
    }

    containers {
      image = each.value.image

      dynamic "env" {
        for_each = merge(local.common_env, {
          APOA_FIRESTORE_DATABASE   = google_firestore_database.dedup.name
          APOA_DEDUP_COLLECTION     = local.dedup_collection
          APOA_PUSH_AUDIENCE        = "apoa-${each.key}"
          APOA_PUSH_SERVICE_ACCOUNT = google_service_account.push.email
        })
        content {
          name  = env.key
          value = env.value
        }
      }

      env {
        name = "APOA_SUBSCRIBER_CREDENTIAL"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.subscriber[each.key].secret_id
            version = "latest"
          }
        }
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "256Mi"
        }
        cpu_idle = true
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.subscriber_reads_credential]
}

# The scheduled build: `dbt build` on the bigquery target, then `apoa publish`
# (docker/builder.Dockerfile). One task, no retries: the next tick retries a failed build.
resource "google_cloud_run_v2_job" "build" {
  name     = "apoa-build"
  location = var.region

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.build.email
      timeout         = "${var.build_timeout_seconds}s"
      max_retries     = 0

      containers {
        image = var.images.build

        dynamic "env" {
          for_each = merge(local.common_env, {
            APOA_DBT_TARGET           = "bigquery"
            APOA_BQ_METHOD            = "oauth"
            APOA_BQ_PROJECT           = var.project_id
            APOA_BQ_DATASET           = google_bigquery_dataset.analytics.dataset_id
            APOA_BQ_LOCATION          = var.bigquery_location
            APOA_STATE_DATASET        = google_bigquery_dataset.state.dataset_id
            APOA_FINDINGS_TOPIC       = google_pubsub_topic.findings.name
            APOA_BQ_VERTEX_CONNECTION = google_bigquery_connection.vertex.name
          })
          content {
            name  = env.key
            value = env.value
          }
        }

        resources {
          limits = {
            cpu    = "2"
            memory = "4Gi"
          }
        }
      }
    }
  }
}

# The metrics exporter: the one polling component (docs/deploy.md). Reads Cloud Monitoring
# timeSeries.list since its checkpoint and publishes each series to pipeline-metrics.
resource "google_cloud_run_v2_job" "exporter" {
  name     = "apoa-metrics-exporter"
  location = var.region

  template {
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.exporter.email
      timeout         = "${var.exporter_timeout_seconds}s"
      max_retries     = 1

      containers {
        image   = var.images.exporter
        command = ["python", "-m", "exporter"]

        dynamic "env" {
          for_each = merge(local.common_env, {
            APOA_EXPORTER_PROJECT      = var.project_id
            APOA_EXPORTER_METRIC_TYPES = join(",", var.exporter_metric_types)
            APOA_EXPORTER_TOPIC        = google_pubsub_topic.ingest["pipeline-metrics"].name
            APOA_EXPORTER_CHECKPOINT   = "gs://${google_storage_bucket.exporter_state.name}/checkpoint.json"
          })
          content {
            name  = env.key
            value = env.value
          }
        }

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }
      }
    }
  }
}
