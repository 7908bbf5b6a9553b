# Where APOA's services keep state outside BigQuery.

locals {
  # Subscribers record each delivered event_id here (document id = event_id) with an
  # `expire_at` timestamp; Firestore's TTL policy deletes records after it passes.
  dedup_collection = "delivered_finding_events"
}

# Firestore (native mode) database for subscriber de-duplication: a create-if-absent on
# the event_id document is atomic, so two deliveries of one event post once.
resource "google_firestore_database" "dedup" {
  name                              = "apoa-dedup"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.enabled]
}

resource "google_firestore_field" "dedup_expiry" {
  database   = google_firestore_database.dedup.name
  collection = local.dedup_collection
  field      = "expire_at"

  # A TTL policy, and no single-field index on the timestamp (nothing queries it).
  ttl_config {}
  index_config {}
}

# The metrics exporter's checkpoint: one small JSON object, replaced with a generation
# precondition so a stale run can never move it backwards.
resource "google_storage_bucket" "exporter_state" {
  #checkov:skip=CKV_GCP_62:The bucket holds one checkpoint object written by one service account; Cloud Audit Logs record who touched it, and a second bucket for usage logs would need logging of its own
  name                        = "${var.project_id}-apoa-exporter-state"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Keep a short history of checkpoints for debugging, not forever.
  lifecycle_rule {
    condition {
      num_newer_versions = 20
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}
