# Image of the hub worker for docker-compose.yml / k8s (the local dev path needs no Docker).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gigbridge gigbridge
COPY streams streams
COPY schemas schemas
COPY connectors connectors
COPY deploy deploy
RUN pip install --no-cache-dir .
USER 1000
CMD ["gigbridge", "worker"]
