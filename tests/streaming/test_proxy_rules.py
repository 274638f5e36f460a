"""modelclient/proxies.py: which proxy a model server's URL goes through (no network)."""

from __future__ import annotations

import pytest

from modelclient.proxies import NoProxy, ProxyURLError, from_environment, parse_proxy_url


@pytest.mark.parametrize(
    ("raw", "scheme", "host", "port", "user", "password"),
    [
        ("http://proxy.example:3128", "http", "proxy.example", 3128, "", ""),
        ("HTTP://Proxy.Example", "http", "proxy.example", 80, "", ""),
        ("https://proxy.example", "https", "proxy.example", 443, "", ""),
        ("socks5://127.0.0.1", "socks5", "127.0.0.1", 1080, "", ""),
        ("socks5h://u%40x:p%3Aw@[::1]:9050/", "socks5h", "::1", 9050, "u@x", "p:w"),
    ],
)
def test_a_proxy_url_is_parsed(raw, scheme, host, port, user, password):
    proxy = parse_proxy_url(raw)
    assert (proxy.scheme, proxy.host, proxy.port) == (scheme, host, port)
    assert (proxy.username, proxy.password) == (user, password)
    assert parse_proxy_url(proxy.url) == proxy  # the URL round-trips, credentials included


def test_the_password_is_in_no_repr_nor_display():
    proxy = parse_proxy_url("http://user:hunter2@proxy.example:3128")
    assert "hunter2" not in repr(proxy)
    assert proxy.display == "http://***@proxy.example:3128"
    with pytest.raises(ProxyURLError) as caught:
        parse_proxy_url("ftp://user:hunter2@proxy.example:3128")
    assert "hunter2" not in str(caught.value)
    assert "ftp://***@proxy.example:3128" in str(caught.value)


@pytest.mark.parametrize(
    "raw", ["", "proxy.example:3128", "gopher://p:1", "http://", "http://p:0", "http://p:x",
            "http://p:1/path", "http://p:1?q", "http://a b:1"],
)  # fmt: skip
def test_a_bad_proxy_url_is_refused(raw):
    with pytest.raises(ProxyURLError):
        parse_proxy_url(raw)


@pytest.mark.parametrize(
    ("rule", "host", "port", "matches"),
    [
        ("*", "api.openai.com", 443, True),
        ("example.com", "example.com", 443, True),
        ("example.com", "api.example.com", 443, True),
        (".example.com", "api.example.com", 443, True),
        (".example.com", "example.com", 443, True),
        ("example.com", "notexample.com", 443, False),
        ("EXAMPLE.com", "Api.Example.COM.", 443, True),
        ("localhost, 127.0.0.1", "127.0.0.1", 11434, True),
        ("10.0.0.0/8", "10.1.2.3", 80, True),
        ("10.0.0.0/8", "11.1.2.3", 80, False),
        ("10.0.0.0/8", "ten.example", 80, False),
        ("::1", "[::1]", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 8081, False),
        ("api.example.com:8443", "api.example.com", 8443, True),
        ("api.example.com:8443", "api.example.com", 443, False),
        ("", "api.example.com", 443, False),
    ],
)
def test_no_proxy_reads_as_curl_does(rule, host, port, matches):
    assert NoProxy.parse(rule).matches(host, port) is matches


def test_https_and_http_servers_get_their_own_variables_lower_case_winning():
    proxies = from_environment(
        {"HTTPS_PROXY": "http://upper:1", "https_proxy": "lower:2", "HTTP_PROXY": "http://h:3"}
    )
    assert proxies.for_url("https://api.openai.com/v1") == parse_proxy_url("http://lower:2")
    assert proxies.for_url("http://ollama:11434/v1") == parse_proxy_url("http://h:3")


def test_all_proxy_is_for_both_when_the_specific_one_is_unset():
    proxies = from_environment({"ALL_PROXY": "socks5h://p:1080", "http_proxy": "http://h:3"})
    assert proxies.for_url("https://api.openai.com/v1") == parse_proxy_url("socks5h://p:1080")
    assert proxies.for_url("http://ollama/v1") == parse_proxy_url("http://h:3")


def test_chatgpt_webs_socks_variables_win_as_in_chatgpt_web():
    proxies = from_environment(
        {
            "HTTPS_PROXY": "http://other:1",
            "SOCKS_PROXY_HOST": "127.0.0.1",
            "SOCKS_PROXY_PORT": "1080",
            "SOCKS_PROXY_USERNAME": "me",
            "SOCKS_PROXY_PASSWORD": "p@ss word",
            "NO_PROXY": "localhost",
        }
    )
    expected = parse_proxy_url("socks5://me:p%40ss%20word@127.0.0.1:1080")
    assert proxies.for_url("https://api.openai.com/v1") == expected
    assert proxies.for_url("http://example.com/v1") == expected
    assert proxies.for_url("http://localhost:11434/v1") is None


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({"HTTPS_PROXY": "ftp://p:1"}, "HTTPS_PROXY must start with"),
        ({"all_proxy": "http://p:99999"}, "all_proxy has a port"),
        ({"SOCKS_PROXY_HOST": "p"}, "SOCKS_PROXY_HOST and SOCKS_PROXY_PORT must be set together"),
        ({"SOCKS_PROXY_HOST": "p", "SOCKS_PROXY_PORT": "x"}, "SOCKS_PROXY_PORT must be a port"),
    ],
)
def test_a_bad_variable_is_named(environ, words):
    with pytest.raises(ProxyURLError) as caught:
        from_environment(environ)
    assert words in str(caught.value)


def test_nothing_set_means_no_proxy():
    assert from_environment({}).for_url("https://api.openai.com/v1") is None
