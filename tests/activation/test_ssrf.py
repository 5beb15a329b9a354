"""The webhook guard refuses every local, private, link-local and metadata target (≥ 30 spellings).

Names are resolved by a fixed table (no network): ``evil.example`` stands for a public name
whose DNS answers 127.0.0.1, ``mixed.example`` for one that answers a public and a private
address (every address is checked, not the first). Redirects are served by an in-process
HTTP transport and must be re-checked hop by hop.
"""

from __future__ import annotations

import httpx
import pytest

from percorso.activation.ssrf import TargetRefused, check_url
from percorso.activation.webhook import post, verify

DNS = {
    "evil.example": ["127.0.0.1"], "mixed.example": ["93.184.216.34", "10.0.0.1"],
    "v6mapped.example": ["::ffff:10.0.0.1"], "meta.example": ["169.254.169.254"], "ula.example": ["fd12::1"],
    "public.example": ["93.184.216.34"], "gateway.example": ["10.0.0.5"],
}


def resolver(host: str) -> list[str]:
    return DNS.get(host.lower(), [])


REFUSED = [
    "http://127.0.0.1/", "http://127.1/", "http://0x7f.1/", "http://0x7f000001/", "http://2130706433/",
    "http://0177.0.0.1/", "http://017700000001/", "http://127.000.000.001/", "http://127.0.0.1:8000/v1/tokens",
    "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/", "http://[2002:7f00:1::]/", "http://0.0.0.0/", "http://0/", "http://[::]/",
    "http://localhost/", "http://LOCALHOST./", "http://api.localhost/", "http://10.0.0.1/", "http://172.16.5.4/",
    "http://192.168.1.1/", "http://[fc00::1]/", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/",
    "http://[::ffff:169.254.169.254]/", "http://[64:ff9b::a9fe:a9fe]/", "http://metadata.google.internal/",
    "http://[fd00:ec2::254]/", "http://100.100.100.200/", "http://224.0.0.1/", "http://user@127.0.0.1/",
    "http://public.example@10.0.0.1/", "http://evil.example/", "http://mixed.example/", "http://v6mapped.example/",
    "http://meta.example/", "http://ula.example/", "http://nowhere.example/", "ftp://public.example/",
    "file:///etc/passwd", "gopher://127.0.0.1/", "http:///nohost",
]


@pytest.mark.parametrize("url", REFUSED)
def test_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        check_url(url, resolver=resolver)


def test_table_is_long_enough() -> None:
    assert len(REFUSED) >= 30


def test_public_and_allow_listed_pass() -> None:
    assert check_url("https://public.example/hook", resolver=resolver).address == "93.184.216.34"
    assert check_url("http://93.184.216.34:8080/", resolver=resolver).port == 8080
    assert check_url("http://gateway.example/", resolver=resolver, allow=["10.0.0.0/24"]).address == "10.0.0.5"
    assert check_url("http://127.0.0.1:9/", resolver=resolver, allow=["127.0.0.1"]).address == "127.0.0.1"
    with pytest.raises(TargetRefused):  # the allow-list is exact: a neighbour stays refused
        check_url("http://10.0.1.5/", resolver=resolver, allow=["10.0.0.0/24"])


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "http://localhost:8000/",
                                      "http://[::ffff:127.0.0.1]/", "http://evil.example/x", "/../admin"])
def test_redirects_to_private_targets_are_refused(location: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "93.184.216.34" and request.url.path == "/hook":
            return httpx.Response(302, headers={"location": location})
        return httpx.Response(200)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    base = "http://public.example/hook" if location != "/../admin" else "http://public.example/hook"
    out = post(base, {"a": 1}, secret=b"s", key="k1", resolver=resolver, client=client)
    if location == "/../admin":  # a relative redirect stays on the checked public host: followed
        assert out.status == "sent" and seen[-1].startswith("http://93.184.216.34/")
    else:
        assert out.status == "failed" and "refused" in (out.error or "")
        assert len(seen) == 1  # nothing was requested from the private target


def test_signature_verifies_and_pins_the_checked_address() -> None:
    got: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        got.append(request)
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    out = post("http://public.example/hook", {"b": 2, "a": 1}, secret=b"top", key="K", resolver=resolver, client=client)
    assert out.status == "sent"
    req = got[0]
    assert req.url.host == "93.184.216.34" and req.headers["host"] == "public.example"
    assert req.headers["idempotency-key"] == "K"
    assert verify(b"top", req.headers["x-percorso-signature"], req.content)
    assert not verify(b"other", req.headers["x-percorso-signature"], req.content)
    assert not verify(b"top", req.headers["x-percorso-signature"], req.content + b" ")


@pytest.mark.parametrize(("code", "status"), [(500, "retry"), (503, "retry"), (429, "retry"), (400, "failed"),
                                              (404, "failed"), (201, "sent")])
def test_status_codes(code: int, status: str) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(code)))
    assert post("http://public.example/", {}, secret=b"s", key="k", resolver=resolver, client=client).status == status


def test_network_error_is_retried() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out")

    client = httpx.Client(transport=httpx.MockTransport(boom))
    out = post("http://public.example/", {}, secret=b"s", key="k", resolver=resolver, client=client)
    assert out.status == "retry" and "ConnectTimeout" in (out.error or "")
