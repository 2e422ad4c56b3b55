# One image, two entry points: `gate` (the CI gate) and `gate-monitor` (the metrics service).
#   docker build -t safety-gate .
#   docker run --rm safety-gate gate --help
#   docker run --rm -p 9464:9464 -v "$PWD/monitor.toml:/etc/gate/monitor.toml:ro" \
#       safety-gate gate-monitor serve --config /etc/gate/monitor.toml
# torch comes from PyPI by default: the CUDA build, for GPU runners. For a smaller CPU-only image
# (gate-monitor needs no torch at run time): --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu

FROM python:3.11-slim-bookworm AS build
ARG TORCH_INDEX=https://pypi.org/simple
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements/ requirements/
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0 \
    && pip install --no-deps --require-hashes -r requirements/embedded.txt
COPY pyproject.toml README.md ./
COPY gate/ gate/
COPY monitor/ monitor/
RUN pip install -c requirements/lock.txt .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="safety-gate" \
      org.opencontainers.image.description="Keep fine-tuned LLMs whose safety guardrails collapsed out of production" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 gate \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin gate \
    && install -d -o 10001 -g 10001 /var/lib/gate-monitor /var/lib/mlflow
COPY --from=build /opt/venv /opt/venv
COPY monitor/monitor.example.toml /etc/gate/monitor.example.toml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    GATE_CACHE_DIR=/home/gate/.cache/safety-gate
USER 10001:10001
WORKDIR /home/gate
EXPOSE 9464
CMD ["gate", "--help"]
