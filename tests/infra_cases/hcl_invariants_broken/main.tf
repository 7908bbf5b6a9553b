# Broken on purpose: every HCL invariant in tests/test_infra.py must report this file.

variable "project_id" {
  type = string
}

resource "google_pubsub_topic" "events" {
  name = "events"
}

# No OIDC token, no dead-letter policy, no retry policy.
resource "google_pubsub_subscription" "push_without_auth" {
  name  = "push-without-auth"
  topic = google_pubsub_topic.events.id

  push_config {
    push_endpoint = "https://example.invalid/push"
  }
}

# A dangling resource reference, an undeclared variable and an undeclared local.
resource "google_pubsub_subscription" "dangling" {
  name  = "dangling-${var.environment}"
  topic = google_pubsub_topic.missing.id

  labels = {
    owner = local.owner
  }
}

# Primitive role on the project.
resource "google_project_iam_member" "editor" {
  project = var.project_id
  role    = "roles/editor"
  member  = "serviceAccount:ci@example.iam.gserviceaccount.com"
}

# Pub/Sub role on the whole project, hidden behind for_each.
resource "google_project_iam_member" "pubsub_everywhere" {
  for_each = toset(["roles/pubsub.publisher"])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:ci@example.iam.gserviceaccount.com"
}

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "github"
}

# Any GitHub repository in the world could federate.
resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"

  attribute_mapping = {
    "google.subject" = "assertion.sub"
  }

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "ci" {
  account_id = "ci"
}

resource "google_service_account_key" "ci" {
  service_account_id = google_service_account.ci.name
}
