FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The runtime user has a home (gunicorn's control socket lives there) and owns beat's state directory;
# an empty named volume mounted there (docker-compose.yml `beat`) takes its owner from the image.
RUN useradd --create-home --home-dir /home/qb24 --shell /usr/sbin/nologin qb24 \
    && install -d -o qb24 -g qb24 -m 0700 /var/lib/qb24/beat
WORKDIR /app
# Every dependency, transitive ones and the wheel build's (setuptools, wheel) too, at the version and
# hashes of requirements.lock (`make lock`): pip refuses anything unpinned, unhashed or changed.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY setup.cfg pyproject.toml README.md ./
COPY webhooks webhooks
COPY workers workers
COPY mappers mappers
COPY config config
COPY clients clients
COPY store store
COPY sandbox sandbox
COPY qb24 qb24
# The project alone: its dependencies are in already, its build uses the locked setuptools.
RUN pip install --no-deps --no-build-isolation . && rm -rf build *.egg-info
USER qb24
EXPOSE 8000
CMD ["gunicorn", "-c", "python:config.gunicorn", "webhooks:create_app()"]
