# The hub's image for docker-compose.yml and deploy/k8s: `gigbridge worker` by default; the same
# image runs `gigbridge ingest` (gateway), `gigbridge registry` and `gigbridge access apply`.
# No Docker on the development machine: tests/deploy/test_dockerfile.py parses this file and runs
# its build and install steps in scratch directories (the wheel test then starts that install).

# One exact base for both stages (Debian bookworm, CPython 3.11.14). Pin a digest as well in a
# registry you control: `docker buildx imagetools inspect python:3.11.14-slim-bookworm`.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- stage 1: build the wheel from the sources that go into it ------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gigbridge gigbridge
COPY streams streams
COPY schemas schemas
COPY connectors connectors
COPY deploy deploy
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# --- stage 2: the runtime, with only the installed wheel ------------------------------------
FROM ${PYTHON_IMAGE}
# A fixed uid/gid (10001), so volumes and k8s securityContext (runAsUser/fsGroup) can name it;
# /data is created here and owned by it, and a new named volume mounted there starts as a copy
# of it, owner included, so the worker can write its RocksDB dedupe store.
RUN groupadd --system --gid 10001 gigbridge \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin gigbridge \
 && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=build /dist /dist
RUN pip install --no-cache-dir /dist/*.whl && rm -rf /dist
ENV GIGBRIDGE_DATA_DIR=/data \
    GIGBRIDGE_WORKER_WEB_HOST=0.0.0.0 \
    GIGBRIDGE_GATEWAY_HOST=0.0.0.0 \
    GIGBRIDGE_REGISTRY_HOST=0.0.0.0 \
    GIGBRIDGE_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 6066 8080 8081
# The worker's /readyz (Kafka answered lately, no stuck partition, not draining: streams/runtime/health.py).
# Slim has no curl, so python's urllib asks; any non-200 answer or no answer fails the check.
# docker-compose.yml gives the gateway and the registry their own checks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('GIGBRIDGE_WORKER_WEB_PORT', '6066'), timeout=4)"]
CMD ["gigbridge", "worker"]
