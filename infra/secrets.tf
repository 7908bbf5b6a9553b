# Secret Manager secrets. Terraform creates the secrets, never their values (so no secret
# ever lands in Terraform state): add each value once with
#   printf '%s' "$VALUE" | gcloud secrets versions add SECRET --data-file=-
# (docs/deploy.md). Cloud Run reads the latest version at instance start.

resource "google_secret_manager_secret" "github_webhook" {
  secret_id = "apoa-github-webhook-secret"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

# One credential per subscriber: the Slack or Teams incoming-webhook URL, or a GitHub token
# (a fine-grained token or GitHub App installation token allowed to open issues).
resource "google_secret_manager_secret" "subscriber" {
  for_each = local.subscribers

  secret_id = each.value.secret

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}
