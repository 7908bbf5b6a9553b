# The scheduled Cloud Run job: `dbt build` on the bigquery target, then publish new findings.
# Not built on the development machines (no Docker engine there); linted with hadolint in tests.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APOA_DBT_TARGET=bigquery \
    APOA_HOME=/tmp/apoa

WORKDIR /app
COPY pyproject.toml README.md dbt_project.yml ./
COPY apoa ./apoa
COPY ingest ./ingest
COPY publisher ./publisher
COPY models ./models
COPY macros ./macros
COPY dbt_project ./dbt_project
# The project itself, not a registry package: its dependency pins live in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir -e ".[gcp-trace]" \
    && useradd --system --uid 10001 apoa

USER 10001
CMD ["sh", "-c", "apoa build && apoa publish"]
