# syntax=docker/dockerfile:1
#
# One image for every agency process. The default command serves the API; the
# same image runs `agency worker`, `agency scheduler` and `agency db upgrade`
# (see helm/agency). Build from the repository root:
#
#   docker build -t agency:0.1.0 .
#
# Configuration is environment only (AGENCY_*); nothing secret is baked in.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: the package and its dependencies in a self-contained virtualenv ---
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /build

# Dependencies first, read from pyproject.toml alone, so that a code change
# reuses this (slow) layer. They are pinned there.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && pip install --requirement requirements.txt

# Then the package itself: a regular, non-editable install (a wheel built from
# src/), leaving the dependencies above untouched, and a consistency check.
COPY README.md ./
COPY src ./src
COPY connectors ./connectors
RUN pip install --no-deps . \
 && pip check \
 && agency --help > /dev/null

# --- runtime: the virtualenv, the migrations, a non-root user -----------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="agency" \
      org.opencontainers.image.description="Multi-tenant backend for social-media agencies" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"

# tini as PID 1: forwards SIGTERM to the process and reaps the worker's children.
# Not version-pinned: Debian's security updates for the base image should apply.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 agency \
 && useradd --system --uid 10001 --gid agency --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin agency

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1

# Same base image as the build stage, so the venv's python symlink resolves.
COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations

# `agency db upgrade` looks for alembic.ini and migrations/ three directories
# above agency/kernel/migrate.py: the repository root in a checkout, but
# lib/python3.11/ of the venv in a regular install. Link them there, then prove
# the installed command finds and applies every migration (on a throwaway
# SQLite file), so an image that could not migrate never gets built.
RUN python -c "import importlib.util, pathlib; root = pathlib.Path(importlib.util.find_spec('agency').origin).resolve().parents[2]; [(root / n).symlink_to(pathlib.Path('/app') / n) for n in ('alembic.ini', 'migrations') if not (root / n).exists()]" \
 && AGENCY_DATABASE_URL=sqlite+aiosqlite:////tmp/build-check/agency.db agency db upgrade \
 && rm -rf /tmp/build-check

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

EXPOSE 8000

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["agency", "serve", "--host", "0.0.0.0", "--port", "8000"]
