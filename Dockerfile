# syntax=docker/dockerfile:1
# okr-pipeline's images (deploy/compose.yaml builds each target):
#   app      the `okr` command: the API (okr serve), the consumer (okr consume), MLflow's server
#   airflow  the same with Airflow 3 (the dependency group `airflow`) and the DAGs
#   proxy    nginx with deploy/nginx/okr.conf.template and the dashboard's static files
# Each installs exactly the locked versions (uv.lock, --frozen), compiled to bytecode, and runs
# as a user without privileges. No secret is baked in: they come from deploy/.env at run time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.27-alpine

FROM ${UV_IMAGE} AS uv

# --- build: the locked environment in /app/.venv ------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# the dependencies first, in a layer of their own: it changes only when the lock does
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-project
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
# the project itself, not editable: the image needs no source tree
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable
# the dashboard's static files, for the proxy (nginx serves them at /static/)
ARG STATIC_DIR=src/okr_pipeline/api/dashboard/static
RUN mkdir -p /app/static "${STATIC_DIR}" && cp -r "${STATIC_DIR}/." /app/static/

FROM build AS build-airflow
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --group airflow

# --- runtime: what both Python images share ---------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
# LightGBM's wheels need the OpenMP runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 okr \
    && useradd --system --uid 10001 --gid okr --home-dir /home/okr --create-home \
       --shell /usr/sbin/nologin okr \
    && mkdir -p /data && chown okr:okr /data
COPY configs /app/configs
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OKR_CONFIG=/app/configs/pipeline_config.json \
    OKR_DATA_DIR=/data
WORKDIR /home/okr

# --- app ----------------------------------------------------------------------------------------
FROM runtime AS app
# owned by root: the running user cannot change the code it runs
COPY --from=build /app/.venv /app/.venv
USER okr
EXPOSE 5001
CMD ["okr", "serve", "--host", "0.0.0.0"]

# --- airflow ------------------------------------------------------------------------------------
FROM runtime AS airflow
COPY --from=build-airflow /app/.venv /app/.venv
COPY dags /app/dags
RUN mkdir -p /opt/airflow && chown okr:okr /opt/airflow
ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/app/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
USER okr
EXPOSE 8080
CMD ["airflow", "api-server", "--port", "8080"]

# --- proxy --------------------------------------------------------------------------------------
FROM ${NGINX_IMAGE} AS proxy
USER root
# the image renders /etc/nginx/templates/*.template into conf.d/ from the environment
RUN rm -f /etc/nginx/conf.d/default.conf
COPY deploy/nginx/okr.conf.template /etc/nginx/templates/okr.conf.template
COPY --from=build /app/static /srv/okr/static
ENV NGINX_ENVSUBST_FILTER=^OKR_ \
    OKR_NGINX_LISTEN=8080 \
    OKR_STATIC_ROOT=/srv/okr/static
USER 101
EXPOSE 8080
