"""APOA's monthly cost model: `python infra/tools/cost_model.py` prints the table in
docs/deploy.md (a test keeps the two equal). Change an assumption here, rerun, paste.

List prices in USD (us-central1 / US multi-region, on-demand), free tiers ignored: they are
per billing account and shared with everything else on it, so small deployments cost less.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1 / (1024 * 1024)  # in GiB
TIB = 1024  # GiB

# --- Unit prices ---------------------------------------------------------------------------
BQ_ACTIVE_GIB_MONTH = 0.02  # active logical storage
BQ_LONG_TERM_GIB_MONTH = 0.01  # partitions untouched for 90 days
BQ_ON_DEMAND_TIB = 6.25  # bytes scanned
BQ_MIN_PER_QUERY_GIB = 10 / 1024  # 10 MiB billed minimum per table read
BQ_WRITE_API_GIB = 0.025  # Storage Write API ingestion
BQML_CREATE_MODEL_TIB = 312.50  # built-in model training, on-demand
PUBSUB_THROUGHPUT_TIB = 40.0  # publish + every subscription's delivery
PUBSUB_STORAGE_GIB_MONTH = 0.27  # topic retention
RUN_VCPU_SECOND = 0.000024  # services, request-based billing
RUN_GIB_SECOND = 0.0000025
RUN_MILLION_REQUESTS = 0.40
RUN_JOB_VCPU_SECOND = 0.000018  # jobs
RUN_JOB_GIB_SECOND = 0.000002
LOGGING_INGEST_GIB = 0.50
FIXED_SMALL_ITEMS = 2.0  # KMS keys, Secret Manager, Scheduler jobs, Firestore de-dup, GCS

# --- What one job run produces -------------------------------------------------------------
JOBS_PER_WORKFLOW_RUN = 4
WORKFLOW_JOB_DELIVERY_KIB = 8.0  # queued, in_progress, completed
WORKFLOW_RUN_DELIVERY_KIB = 25.0  # requested, in_progress, completed (shared by its jobs)
JOB_MINUTES = 8
SAMPLE_SECONDS = 10
SERIES_HEADER_KIB = 0.6  # metric, resource, labels of one TimeSeries
POINT_KIB = 0.09
FAILED_SHARE = 0.05  # jobs whose commands fail
LOG_LINES_PER_FAILURE = 300  # below the reusable workflow's max-log-lines (1000)
LOG_ENTRY_KIB = 0.9  # one LogEntry with labels and resource, as exported
ROW_OVERHEAD_KIB = 0.3  # ids, timestamps, attributes JSON per landed row
MODELED_SHARE = 0.15  # dbt tables, relative to raw
CLOUD_RUN_REQUEST_LOG_KIB = 1.0  # one request log entry per push / webhook request

# --- Warehouse behaviour -------------------------------------------------------------------
MONTHS_KEPT = 12  # raw partitions expire after 400 days: a year in, 12 months are stored
ACTIVE_MONTHS = 3
RAW_DAYS_READ_PER_BUILD = 0.75  # today's partition, plus yesterday's for 6 h after midnight
HISTORY_DAYS = 90  # baselines and data tests re-read 90 days of job runs
HISTORY_KIB_PER_JOB_RUN = 0.5
QUERIES_PER_BUILD = 40  # models and data tests
RETRAINS_PER_MONTH = 4.3  # only with a BigQuery ML scorer (the default scorer is SQL)
TRAINING_KIB_PER_JOB_RUN = 0.2

# --- Services ------------------------------------------------------------------------------
INGEST_VCPU_SECONDS_PER_MESSAGE = 0.02  # billed, with 80 requests sharing an instance
RECEIVER_VCPU_SECONDS_PER_DELIVERY = 0.02
BUILD_VCPU, BUILD_GIB = 2, 4
EXPORTER_RUNS, EXPORTER_SECONDS = 8640, 20  # every 5 minutes
EXPORTER_GIB_PUBLISHED = 2.0  # depends on the Cloud Run / GKE workloads exported, not runs


@dataclass(frozen=True)
class Tier:
    job_runs: int
    builds: int  # dbt build + publish executions a month
    build_minutes: float


TIERS = [
    Tier(10_000, builds=2_000, build_minutes=2),
    Tier(1_000_000, builds=6_000, build_minutes=5),
    Tier(100_000_000, builds=2_000, build_minutes=20),
]


def per_job_run() -> dict[str, float]:
    """GiB and message counts one job run sends, by topic."""
    github = 3 * WORKFLOW_JOB_DELIVERY_KIB + 3 * WORKFLOW_RUN_DELIVERY_KIB / JOBS_PER_WORKFLOW_RUN
    points = JOB_MINUTES * 60 / SAMPLE_SECONDS
    metrics = 3 * (SERIES_HEADER_KIB + points * POINT_KIB)
    logs = FAILED_SHARE * LOG_LINES_PER_FAILURE * LOG_ENTRY_KIB
    messages = {
        "github": 3 + 3 / JOBS_PER_WORKFLOW_RUN,
        "metrics": 3,
        "logs": FAILED_SHARE * (LOG_LINES_PER_FAILURE + 1),
    }
    return {
        "github_gib": github * KIB,
        "metrics_gib": metrics * KIB,
        "logs_gib": logs * KIB,
        "published_gib": (github + metrics + logs) * KIB,
        # github-events is delivered to ingest and to the build trigger (filtered-out
        # messages are billed too); the other topics to ingest only.
        "throughput_gib": (3 * github + 2 * metrics + 2 * logs) * KIB,
        "messages": sum(messages.values()),
        "deliveries_to_receiver": messages["github"],
    }


def monthly(tier: Tier) -> dict[str, float]:
    unit = per_job_run()
    runs = tier.job_runs
    landed_gib = runs * (unit["published_gib"] + unit["messages"] * ROW_OVERHEAD_KIB * KIB)
    stored_gib = landed_gib * (1 + MODELED_SHARE)
    long_term_months = MONTHS_KEPT - ACTIVE_MONTHS
    storage = stored_gib * (
        ACTIVE_MONTHS * BQ_ACTIVE_GIB_MONTH + long_term_months * BQ_LONG_TERM_GIB_MONTH
    )
    writes = landed_gib * BQ_WRITE_API_GIB

    raw_per_day = landed_gib / 30
    history = runs * HISTORY_DAYS / 30 * HISTORY_KIB_PER_JOB_RUN * KIB
    scanned_per_build = (
        raw_per_day * RAW_DAYS_READ_PER_BUILD + history + QUERIES_PER_BUILD * BQ_MIN_PER_QUERY_GIB
    )
    scanning = tier.builds * scanned_per_build / TIB * BQ_ON_DEMAND_TIB

    training_gib = max(runs * HISTORY_DAYS / 30 * TRAINING_KIB_PER_JOB_RUN * KIB, 10 / 1024)
    training = RETRAINS_PER_MONTH * training_gib / TIB * BQML_CREATE_MODEL_TIB

    throughput = runs * unit["throughput_gib"] + 2 * EXPORTER_GIB_PUBLISHED
    pubsub = throughput / TIB * PUBSUB_THROUGHPUT_TIB
    pubsub += (runs * unit["published_gib"] / 30) * PUBSUB_STORAGE_GIB_MONTH  # 1-day retention

    requests = runs * (unit["messages"] + unit["deliveries_to_receiver"] + 1.25)
    vcpu = runs * (
        unit["messages"] * INGEST_VCPU_SECONDS_PER_MESSAGE
        + unit["deliveries_to_receiver"] * RECEIVER_VCPU_SECONDS_PER_DELIVERY
    )
    services = (
        requests / 1e6 * RUN_MILLION_REQUESTS + vcpu * RUN_VCPU_SECOND + vcpu * RUN_GIB_SECOND
    )
    build_seconds = tier.builds * tier.build_minutes * 60
    jobs = build_seconds * (BUILD_VCPU * RUN_JOB_VCPU_SECOND + BUILD_GIB * RUN_JOB_GIB_SECOND)
    jobs += EXPORTER_RUNS * EXPORTER_SECONDS * (RUN_JOB_VCPU_SECOND + 0.5 * RUN_JOB_GIB_SECOND)

    logging_gib = runs * unit["logs_gib"] + requests * CLOUD_RUN_REQUEST_LOG_KIB * KIB
    logging = logging_gib * LOGGING_INGEST_GIB

    return {
        "landed_gib": landed_gib,
        "scanned_per_build_gib": scanned_per_build,
        "BigQuery storage": storage,
        "BigQuery writes (Storage Write API)": writes,
        "BigQuery scanned by builds": scanning,
        "BigQuery ML training (optional scorer)": training,
        "Pub/Sub": pubsub,
        "Cloud Run services": services,
        "Cloud Run jobs (build, exporter)": jobs,
        "Cloud Logging": logging,
        "KMS, secrets, scheduler, Firestore, GCS": FIXED_SMALL_ITEMS,
    }


def money(value: float) -> str:
    if value < 1:
        return "< $1"
    return f"${value:,.0f}"


def table() -> str:
    results = [monthly(tier) for tier in TIERS]
    header = "| per month | " + " | ".join(f"{tier.job_runs:,} job runs" for tier in TIERS) + " |"
    lines = [header, "|---|" + "---:|" * len(TIERS)]
    lines.append(
        "| raw data landed | " + " | ".join(f"{r['landed_gib']:,.1f} GiB" for r in results) + " |"
    )
    lines.append(
        "| builds (dbt build + publish) | "
        + " | ".join(f"{tier.builds:,} × {tier.build_minutes:g} min" for tier in TIERS)
        + " |"
    )
    lines.append(
        "| bytes scanned per build | "
        + " | ".join(f"{r['scanned_per_build_gib']:,.1f} GiB" for r in results)
        + " |"
    )
    items = [key for key in results[0] if key[0].isupper()]
    for item in items:
        lines.append(f"| {item} | " + " | ".join(money(r[item]) for r in results) + " |")
    totals = [sum(r[item] for item in items) for r in results]
    lines.append("| **total** | " + " | ".join(f"**{money(total)}**" for total in totals) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
