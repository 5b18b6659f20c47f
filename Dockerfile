FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY webhooks webhooks
COPY workers workers
COPY mappers mappers
COPY config config
COPY clients clients
COPY store store
COPY sandbox sandbox
COPY qb24 qb24
RUN pip install --no-cache-dir . && useradd --system qb24
USER qb24
EXPOSE 8000
CMD ["gunicorn", "-c", "python:config.gunicorn", "webhooks:create_app()"]
