{{ config(
    enabled=apoa_bqml_enabled(['bqml_kmeans']),
    materialized='bqml_model',
    bqml_options={
        'model_type': 'kmeans',
        'num_clusters': var('apoa_bqml_kmeans_clusters', 8),
        'kmeans_init_method': 'kmeans++',
        'standardize_features': true,
        'max_iterations': 20,
    },
) }}
{#-
    K-means over the feature vectors of successful runs (bqml_run_features). job_key is a
    feature (one-hot encoded by BigQuery ML), so a run is far from its centroid when it is
    unlike the runs of its own job. No ids among the features: ML.DETECT_ANOMALIES passes
    job_run_id through.
-#}
with

features as (

    select
        {{ apoa_bqml_kmeans_features() }}
    from {{ ref('bqml_run_features') }}
    where conclusion = 'success'

)

select * from features
