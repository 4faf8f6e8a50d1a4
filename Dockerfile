# The amlguard CLI in a container: the core install (audit and inventory of files, policy
# validate|test, every report format), run as a non-root user, on a base image pinned by digest.
#
#   docker build -t amlguard --build-arg AMLGUARD_VERSION=0.1.0 .
#   docker run --rm -v "$PWD:/work" amlguard audit endpoints/ --format sarif --output amlguard.sarif
#
# AMLGUARD_EXTRAS adds extras, e.g. --build-arg AMLGUARD_EXTRAS='[azure]' for live audits.
# The build context has no .git (.dockerignore), so the version comes from AMLGUARD_VERSION.
# tests/test_dockerfile.py checks these properties, and builds and runs the image where a
# container engine can.

# python:3.11.11-slim-bookworm (Debian 12), pinned by digest so a re-pushed tag cannot change the build
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5

FROM ${PYTHON_IMAGE} AS wheel
ARG AMLGUARD_VERSION=0.0.0+unknown
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY shared ./shared
COPY policies ./policies
# pip from a venv of its own: the base needs python3 and its venv module, not a system pip
RUN python3 -m venv /opt/build \
    && SETUPTOOLS_SCM_PRETEND_VERSION_FOR_AMLGUARD="${AMLGUARD_VERSION}" \
       /opt/build/bin/python -m pip wheel --quiet --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG AMLGUARD_EXTRAS=""
# HOME holds amlguard's cache (~/.cache/amlguard), never the mounted /work
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/amlguard \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/amlguard/bin:$PATH
COPY --from=wheel /wheels /tmp/wheels
RUN python3 -m venv /opt/amlguard \
    && wheel="$(ls /tmp/wheels/amlguard-*.whl)" \
    && /opt/amlguard/bin/python -m pip install --quiet "amlguard${AMLGUARD_EXTRAS} @ file://${wheel}" \
    && rm -rf /tmp/wheels \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/amlguard --shell /usr/sbin/nologin amlguard \
    && mkdir -p /work
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["amlguard"]
CMD ["--help"]
