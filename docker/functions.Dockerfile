# The HTTP functions as Cloud Run services. One image, the target chosen at build time:
#   docker build -f docker/functions.Dockerfile --build-arg TARGET=github_webhook -t receiver .
#   docker build -f docker/functions.Dockerfile --build-arg TARGET=ingest_push -t ingest .
# Not built on the development machines (no Docker engine there); linted with hadolint in tests.
FROM python:3.11-slim

ARG TARGET=ingest_push
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FUNCTION_TARGET=${TARGET} \
    PORT=8080

WORKDIR /app
COPY pyproject.toml README.md ./
COPY apoa ./apoa
COPY ingest ./ingest
COPY publisher ./publisher
# The project itself, not a registry package: its dependency pins live in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[gcp-trace,secret-manager]" \
    && useradd --system --uid 10001 apoa

USER 10001
EXPOSE 8080
CMD ["sh", "-c", "exec functions-framework --source ingest/main.py --target \"$FUNCTION_TARGET\" --port \"$PORT\""]
