"""Cloud Monitoring -> pipeline-metrics exporter: APOA's one polling component.

Cloud Monitoring has no push export for Cloud Run and GKE metrics, so a scheduled Cloud
Run job (`python -m exporter`) reads `projects.timeSeries.list` for the configured metric
types since its last checkpoint and publishes each TimeSeries, as the API returned it, as
one message to pipeline-metrics. The checkpoint only moves after every series of a window
was accepted by Pub/Sub: a failed run repeats its window (at least once), a successful
rerun publishes nothing twice.
"""
