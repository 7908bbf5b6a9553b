# Broken on purpose: checkov must fail on this (tests/test_infra.py).

resource "google_bigquery_dataset" "public" {
  dataset_id = "public_dataset"
  location   = "US"

  access {
    role          = "READER"
    special_group = "allAuthenticatedUsers"
  }
}

resource "google_storage_bucket" "loose" {
  name     = "apoa-loose-bucket"
  location = "US"
}

resource "google_pubsub_topic_iam_member" "anyone_publishes" {
  topic  = "projects/p/topics/t"
  role   = "roles/pubsub.publisher"
  member = "allUsers"
}
