# Workload Identity Federation for GitHub Actions: no keys. A workflow job with
# `id-token: write` exchanges GitHub's OIDC token for a short-lived Google token and
# impersonates apoa-ci, which may only publish to pipeline-metrics and write log entries.
#
# Two gates: the provider's attribute_condition rejects tokens from any other owner or
# repository before a token is issued, and the workloadIdentityUser bindings below name
# each allowed repository again.

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "apoa-github"
  display_name              = "APOA GitHub Actions"
  description               = "GitHub Actions workflows that send runner metrics and CI logs to APOA."

  depends_on = [google_project_service.enabled]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  #checkov:skip=CKV_GCP_125:The condition pins repository_owner and the exact repository list (claims a workflow cannot forge); this check accepts only an exact `sub` match, which would shut out pull-request and branch runs
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-actions"
  display_name                       = "GitHub Actions OIDC"

  attribute_mapping = {
    "google.subject"             = "assertion.sub"
    "attribute.repository"       = "assertion.repository"
    "attribute.repository_owner" = "assertion.repository_owner"
    "attribute.ref"              = "assertion.ref"
    "attribute.job_workflow_ref" = "assertion.job_workflow_ref"
  }

  attribute_condition = "assertion.repository_owner == '${var.github_owner}' && assertion.repository in [${join(", ", formatlist("'%s'", var.github_repositories))}]"

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account_iam_member" "github_impersonates_ci" {
  for_each = toset(var.github_repositories)

  service_account_id = google_service_account.ci.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${each.value}"
}
