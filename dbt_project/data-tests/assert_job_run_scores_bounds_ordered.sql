-- Every score's band is ordered, its probability a probability, and is_anomaly agrees with it.
select
    score_id,
    kind,
    lower_bound,
    expected_value,
    upper_bound,
    observed_value,
    is_anomaly,
    anomaly_probability
from {{ ref('ml_job_run_scores') }}
where
    not (lower_bound <= expected_value and expected_value <= upper_bound)
    or anomaly_probability < 0
    or anomaly_probability > 1
    -- metric_anomaly flags both sides of its band (a metric can fail low)
    or is_anomaly != (
        observed_value > upper_bound
        or (kind = 'metric_anomaly' and observed_value < lower_bound)
    )
