{{ config(
    enabled=apoa_bqml_enabled(['vertex']),
    materialized='bqml_model',
    bqml_remote={
        'connection': var('apoa_vertex_connection', target.project ~ '.us.apoa-vertex'),
        'endpoint': var(
            'apoa_vertex_endpoint',
            'https://us-central1-aiplatform.googleapis.com/v1/projects/' ~ target.project
            ~ '/locations/us-central1/endpoints/apoa-job-duration'
        ),
        'input': apoa_vertex_input_schema(),
        'output': {'value': 'float64', 'lower_bound': 'float64', 'upper_bound': 'float64'},
    },
) }}
{#-
    A BigQuery ML remote model over the Vertex AI endpoint that serves the AutoML regression
    model trained on the exported history (docs/scorers.md): INPUT is the feature vector,
    OUTPUT the AutoML tabular regression prediction (value and its prediction interval).
    Remote models have no training query, so this model's body is empty.
-#}
