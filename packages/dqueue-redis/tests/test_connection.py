"""Connecting: URL and legacy settings, ACL users, TLS, and the seed's dotted paths."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from dqueue.backends import load_backend
from dqueue.errors import BackendUnavailable, ConfigurationError
from dqueue.settings import Settings
from dqueue.testing import free_port, wait_for
from dqueue_redis import RedisBackend, ReliableRedisBackend
from dqueue_redis.connection import connect, describe_target
from tests.support.redis_server import RedisServer


def _kwargs(settings: Settings) -> dict[str, object]:
    client = connect(settings)
    try:
        return dict(client.connection_pool.connection_kwargs)
    finally:
        client.close()


def test_url_gives_user_password_host_port_and_database() -> None:
    kwargs = _kwargs(Settings().replace(REDIS_URL="redis://worker:s3cret@cache.internal:6390/4"))

    assert (kwargs["username"], kwargs["password"]) == ("worker", "s3cret")
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.internal", 6390, 4)


def test_rediss_url_connects_over_tls() -> None:
    client = connect(Settings().replace(REDIS_URL="rediss://cache.internal:6380/0"))
    try:
        assert client.connection_pool.connection_class is redis.SSLConnection
    finally:
        client.close()


def test_legacy_settings_are_used_without_a_url() -> None:
    settings = Settings().replace(
        REDIS_HOST="10.0.0.7", REDIS_PORT=6391, REDIS_PASSWORD="pw", REDIS_DATABASE=2
    )

    kwargs = _kwargs(settings)

    assert (kwargs["host"], kwargs["port"], kwargs["password"], kwargs["db"]) == (
        "10.0.0.7",
        6391,
        "pw",
        2,
    )


def test_url_wins_over_legacy_settings() -> None:
    settings = Settings().replace(REDIS_URL="redis://url-host:7000/1", REDIS_HOST="legacy-host")

    assert _kwargs(settings)["host"] == "url-host"


def test_socket_timeout_setting_reaches_the_connections() -> None:
    assert _kwargs(Settings().replace(REDIS_SOCKET_TIMEOUT=7.5))["socket_timeout"] == 7.5


def test_an_unknown_url_scheme_is_a_configuration_error_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_REDIS_URL"):
        RedisBackend.from_settings(Settings().replace(REDIS_URL="http://localhost:6379"))


def test_the_target_in_messages_never_shows_the_password() -> None:
    target = describe_target(Settings().replace(REDIS_URL="redis://worker:s3cret@cache:6390/4"))

    assert target == "redis://worker@cache:6390/4"


def test_an_acl_user_from_the_url_can_use_the_backend(
    redis_server: RedisServer, redis_prefix: str, raw: redis.Redis
) -> None:
    user = f"dq-{redis_prefix}"
    raw.acl_setuser(user, enabled=True, passwords=["+pw-1"], keys=["*"], commands=["+@all"])
    url = f"redis://{user}:pw-1@127.0.0.1:{redis_server.port}/0"
    backend = RedisBackend.from_settings(
        Settings().replace(REDIS_URL=url, REDIS_PREFIX=redis_prefix)
    )
    try:
        assert backend.counts("default").ready == 0
        assert raw.acl_whoami() == "default"
    finally:
        backend.close()
        raw.acl_deluser(user)


def test_a_wrong_password_is_reported_as_unavailable(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    url = f"redis://nobody:wrong@127.0.0.1:{redis_server.port}/0"
    backend = RedisBackend.from_settings(
        Settings().replace(REDIS_URL=url, REDIS_PREFIX=redis_prefix)
    )
    try:
        with pytest.raises(BackendUnavailable, match="nobody@127.0.0.1"):
            backend.ping()
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("dqueue.backends.redis.RedisBackend", RedisBackend),
        ("dqueue.backends.reliable_redis.ReliableRedisBackend", ReliableRedisBackend),
        ("dqueue_redis.ReliableRedisBackend", ReliableRedisBackend),
    ],
)
def test_the_dotted_paths_load_the_backends(
    path: str, expected: type, redis_server: RedisServer, redis_prefix: str
) -> None:
    settings = Settings(BACKEND=path).replace(REDIS_URL=redis_server.url, REDIS_PREFIX=redis_prefix)

    backend = load_backend(path, settings)

    try:
        assert type(backend) is expected
        backend.ping()
    finally:
        backend.close()


def _make_certificate(directory: Path) -> tuple[Path, Path]:
    key, cert = directory / "server.key", directory / "server.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.mark.skipif(
    shutil.which("openssl") is None or shutil.which("redis-server") is None,
    reason="needs openssl and a redis-server built with TLS",
)
def test_a_rediss_url_talks_to_a_real_tls_server(tmp_path: Path) -> None:
    key, cert = _make_certificate(tmp_path)
    port = free_port()
    command = ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
               "--tls-cert-file", str(cert), "--tls-key-file", str(key),
               "--tls-auth-clients", "no", "--save", "", "--dir", str(tmp_path)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    backend = RedisBackend.from_settings(Settings().replace(REDIS_URL=url, REDIS_PREFIX="tls"))
    try:
        wait_for(
            lambda: backend.ping() is None, what="the TLS server", ignore=(BackendUnavailable,)
        )

        assert backend.enqueue_many([]) == []
        assert backend.counts("default").ready == 0
    finally:
        backend.close()
        server.kill()
        server.wait(10)
