"""Channel key rotation through the worker: the sweep enqueues a refresh for WeChat Pay in
platform-certificate mode, the job downloads the certificates into Redis, where another
process's channel finds them; the job is safe to run twice; and the Redis-backed shared store
itself. Real Redis, a real RQ worker, real HTTP to the WeChat Pay simulator."""

from __future__ import annotations

import pytest
from redis import Redis
from refund_portal_wechat.simulator import WechatSimulator
from rq.registry import FinishedJobRegistry

from jobs.channel_keys import refresh_keys, sweep_channel_keys
from jobs.runtime import set_app
from portal.infra.queue import queue
from portal.infra.shared_store import PREFIX, RedisSharedStore
from portal.plugins.channels import KeyRefresher
from portal.plugins.startup import channels
from tests.test_settlement import work


def test_redis_shared_store(redis_url):
    Redis.from_url(redis_url).delete(PREFIX + "t:a", PREFIX + "t:lock")
    store = RedisSharedStore(lambda: Redis.from_url(redis_url))
    assert store.get("t:a") is None
    store.put("t:a", b"value")
    assert store.get("t:a") == b"value"
    assert store.claim("t:lock", 60) is True
    assert store.claim("t:lock", 60) is False
    assert Redis.from_url(redis_url).ttl(PREFIX + "t:lock") > 0


def test_a_store_without_redis_reads_empty_and_grants_claims():
    store = RedisSharedStore(
        lambda: Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, socket_timeout=0.5)
    )
    assert store.get("x") is None
    store.put("x", b"1")  # nothing written, nothing raised
    assert store.claim("x", 60) is True


@pytest.fixture
def cert_sim(app, tmp_path):
    keys = tmp_path / "keys"
    simulator = WechatSimulator(str(keys), hang_s=1, key_mode="platform_cert").start()
    app.config.update(
        DEV_KEYS_DIR=str(keys),
        WECHAT_GATEWAY_URL=simulator.url,
        WECHAT_TIMEOUT=2,
        WECHAT_KEY_MODE="platform_cert",
    )
    from portal.plugins.startup import init_plugins

    init_plugins(app)
    yield simulator
    simulator.stop()


def test_the_sweep_enqueues_one_refresh_and_the_job_keeps_the_certificates(app, cert_sim):
    set_app(app)
    with app.app_context():
        channel = channels().get("wechat")
        assert isinstance(channel, KeyRefresher)
        assert channel.refresh_due()
        assert sweep_channel_keys() == 1
        assert sweep_channel_keys() == 0  # a copy is already waiting
    work(app)
    assert cert_sim.certificate_downloads() == 1
    with app.app_context():
        finished = FinishedJobRegistry(queue=queue())
        assert len(finished.get_job_ids()) == 1
        assert not channels().get("wechat").refresh_due()
        assert sweep_channel_keys() == 0
        # run twice: the second finds the keys fresh and downloads nothing
        assert refresh_keys("wechat") == "wechat: keys are fresh"
    assert cert_sim.certificate_downloads() == 1
    # another process (a web worker) builds its own channel: it reads the download from Redis
    # and verifies the gateway's answers without downloading again
    from portal.plugins.startup import init_plugins

    init_plugins(app)
    with app.app_context():
        fresh = channels().get("wechat")
        assert fresh is not channel and fresh.keyring.certificates() == []
        serial = cert_sim.gateway_keys.current_certificate.signer.serial
        assert fresh.keyring.key_for(serial) is not None
        assert cert_sim.certificate_downloads() == 1
        assert fresh.check_connection().ok  # the check itself downloads: that is its call
    assert cert_sim.certificate_downloads() == 2


def test_a_public_key_channel_is_never_refreshed(app, tmp_path):
    keys = tmp_path / "keys"
    simulator = WechatSimulator(str(keys), hang_s=1).start()
    try:
        app.config.update(DEV_KEYS_DIR=str(keys), WECHAT_GATEWAY_URL=simulator.url)
        from portal.plugins.startup import init_plugins

        init_plugins(app)
        set_app(app)
        with app.app_context():
            assert sweep_channel_keys() == 0
            assert refresh_keys("wechat") == "wechat: keys are fresh"
            assert refresh_keys("nosuch") == "nosuch: no such channel loaded"
    finally:
        simulator.stop()
