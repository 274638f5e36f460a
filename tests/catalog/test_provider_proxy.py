"""A provider's own proxy in the admin: validated, its credentials kept like the API key
(encrypted, never shown), and chosen over the environment's by catalog.config."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import reverse

from catalog import config, crypto, probe
from catalog.models import Provider, ProxyMode
from modelclient.proxies import EnvironmentProxies, NoProxy, parse_proxy_url
from tests.catalog.conftest import CANARY_KEY
from tests.proxies import ConnectProxy, Socks5Proxy
from tests.upstream import FakeUpstream

pytestmark = pytest.mark.django_db

PASSWORD = "canary-proxy-pass-41d2"


def page(response) -> str:
    return str(response.content.decode())


def form(base_url: str, **fields: str) -> dict[str, str]:
    data = {
        "name": "proxied", "base_url": base_url, "api_key": CANARY_KEY, "extra_headers": "{}",
        "timeout_seconds": "5", "enabled": "on", "title_model": "",
    }  # fmt: skip
    data.update(fields)
    return data


@pytest.fixture
def socks() -> Iterator[Socks5Proxy]:
    with Socks5Proxy(username="admin", password=PASSWORD) as proxy:
        yield proxy  # type: ignore[misc]


def test_a_proxy_with_credentials_is_stored_apart_and_never_shown(admin_client, fake_upstream):
    url = f"socks5h://admin:{PASSWORD}@proxy.example:1080"
    response = admin_client.post(
        reverse("admin:catalog_provider_add"),
        form(fake_upstream.base_url, proxy_mode="url", proxy=url),
    )
    assert response.status_code == 302, page(response)
    provider = Provider.objects.get(name="proxied")
    assert provider.proxy_mode == ProxyMode.URL
    assert provider.proxy_url == "socks5h://proxy.example:1080"
    assert PASSWORD not in provider.proxy_auth_encrypted
    assert provider.proxy() == parse_proxy_url(url)
    for address in [
        reverse("admin:catalog_provider_changelist"),
        reverse("admin:catalog_provider_change", args=[provider.pk]),
        reverse("admin:catalog_provider_history", args=[provider.pk]),
    ]:
        body = page(admin_client.get(address))
        assert PASSWORD not in body
        assert provider.proxy_auth_encrypted not in body
    listing = page(admin_client.get(reverse("admin:catalog_provider_changelist")))
    assert "socks5h://***@proxy.example:1080" in listing
    change = page(admin_client.get(reverse("admin:catalog_provider_change", args=[provider.pk])))
    assert 'value="socks5h://proxy.example:1080"' in change
    assert "Proxy credentials are stored; they are never shown." in change


def test_saving_the_same_proxy_without_credentials_keeps_them_another_drops_them(
    admin_client, fake_upstream
):
    provider = Provider(name="proxied", base_url=fake_upstream.base_url)
    provider.set_proxy(f"http://admin:{PASSWORD}@proxy.example:3128")
    provider.save()
    change = reverse("admin:catalog_provider_change", args=[provider.pk])

    data = form(fake_upstream.base_url, proxy_mode="url", proxy="http://proxy.example:3128")
    assert admin_client.post(change, data).status_code == 302
    provider.refresh_from_db()
    assert provider.proxy() == parse_proxy_url(f"http://admin:{PASSWORD}@proxy.example:3128")

    # Another host: the credentials are never sent to it.
    data["proxy"] = "http://elsewhere.example:3128"
    assert admin_client.post(change, data).status_code == 302
    provider.refresh_from_db()
    assert provider.proxy() == parse_proxy_url("http://elsewhere.example:3128")

    provider.set_proxy(f"http://admin:{PASSWORD}@elsewhere.example:3128")
    provider.save()
    data["clear_proxy_credentials"] = "on"
    assert admin_client.post(change, data).status_code == 302
    provider.refresh_from_db()
    assert not provider.has_proxy_credentials


@pytest.mark.parametrize(
    ("proxy", "words"),
    [
        (f"ftp://admin:{PASSWORD}@proxy.example:21", "must start with http://, https://"),
        ("proxy.example:3128", "must start with http://"),
        ("http://:3128", "has no host"),
        (f"http://admin:{PASSWORD}@proxy.example:99999", "port that is not a number"),
        ("socks5://proxy.example:1080/path", "must be only scheme://"),
        ("", "Give the proxy"),
    ],
)
def test_a_bad_proxy_url_is_refused_and_nothing_is_written(admin_client, proxy, words):
    response = admin_client.post(
        reverse("admin:catalog_provider_add"),
        form("http://127.0.0.1:9/v1", proxy_mode="url", proxy=proxy),
    )
    assert response.status_code == 200
    body = page(response)
    assert words in body
    assert PASSWORD not in body
    assert CANARY_KEY not in body
    assert not Provider.objects.exists()


def test_the_providers_proxy_beats_the_environments_and_no_proxy_is_none(
    settings, fake_upstream: FakeUpstream
):
    environment = parse_proxy_url("http://env-proxy.example:3128")
    settings.UPSTREAM_PROXIES = EnvironmentProxies(environment, environment, NoProxy())
    provider = Provider.objects.create(name="p", base_url=fake_upstream.base_url)
    assert config.provider_config(provider).proxy == environment

    provider.set_proxy("socks5://own.example:1080")
    assert config.provider_config(provider).proxy == parse_proxy_url("socks5://own.example:1080")

    provider.proxy_mode = ProxyMode.DIRECT
    assert config.provider_config(provider).proxy is None

    # NO_PROXY applies to the environment's proxy, not to one the admin chose.
    settings.UPSTREAM_PROXIES = EnvironmentProxies(environment, environment, NoProxy.parse("*"))
    provider.proxy_mode = ProxyMode.ENVIRONMENT
    assert config.provider_config(provider).proxy is None
    provider.set_proxy("socks5://own.example:1080")
    assert config.provider_config(provider).proxy is not None


def test_the_environments_models_use_the_environments_proxy(settings, upstream):
    environment = parse_proxy_url("http://env-proxy.example:3128")
    settings.UPSTREAM_PROXIES = EnvironmentProxies(environment, environment, NoProxy())
    assert config.resolve("fake-model").config.proxy == environment
    settings.UPSTREAM_PROXIES = EnvironmentProxies(
        environment, environment, NoProxy.parse("127.0.0.1")
    )
    assert config.resolve("fake-model").config.proxy is None


def test_unreadable_proxy_credentials_are_said_so(settings, fake_upstream):
    provider = Provider(name="p", base_url=fake_upstream.base_url)
    provider.set_proxy(f"http://admin:{PASSWORD}@proxy.example:3128")
    settings.PROVIDER_KEY_SECRET = "another secret"
    with pytest.raises(config.ModelUnavailable) as caught:
        config.provider_config(provider)
    assert caught.value.code == "provider_key_unreadable"
    assert "proxy credentials" in caught.value.message
    assert isinstance(caught.value.__cause__, crypto.UndecryptableKey)


def test_test_connection_goes_through_the_providers_proxy(
    admin_client, keyed_upstream: FakeUpstream, socks: Socks5Proxy
):
    provider = Provider(name="proxied", base_url=keyed_upstream.base_url, timeout_seconds=5)
    provider.set_api_key(CANARY_KEY)
    provider.set_proxy(socks.url)
    provider.save()
    body = page(
        admin_client.post(
            reverse("admin:catalog_provider_test_connection", args=[provider.pk]), follow=True
        )
    )
    assert "Connected to proxied: 3 models listed." in body
    assert socks.tunnels == [("127.0.0.1", keyed_upstream.port)]
    assert CANARY_KEY.encode() not in socks.received()


@pytest.mark.parametrize("kind", [ConnectProxy, Socks5Proxy])
def test_a_refusing_proxy_fails_the_check_with_upstream_proxy(kind, fake_upstream):
    with kind(username="admin", password=PASSWORD, refuse=True) as proxy:
        provider = Provider(name="refused", base_url=fake_upstream.base_url, timeout_seconds=5)
        provider.set_proxy(proxy.url)
        provider.save()
        result = probe.check(provider)
    assert (result.ok, result.code) == (False, "upstream_proxy")
    assert "refused the tunnel" in result.error
    assert PASSWORD not in result.error
    provider.refresh_from_db()
    assert provider.check_code == "upstream_proxy"
    assert fake_upstream.requests == []
