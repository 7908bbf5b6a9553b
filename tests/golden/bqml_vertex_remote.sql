create or replace model `apoa-offline`.`pipeline_analytics`.`bqml_vertex_remote`
input (job_key string, runner_label string, hour_of_week int64, ln_queue_seconds float64, setup_share float64, longest_step_share float64, step_count int64, cpu_utilization_peak float64, memory_utilization_peak float64)
output (value float64, lower_bound float64, upper_bound float64)
remote with connection `apoa-offline.us.apoa-vertex`
options (endpoint = 'https://us-central1-aiplatform.googleapis.com/v1/projects/apoa-offline/locations/us-central1/endpoints/apoa-job-duration')
