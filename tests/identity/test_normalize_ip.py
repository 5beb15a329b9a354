"""``normalize_ip``'s shortcut for canonical dotted quads answers exactly as ``ipaddress`` does."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from percorso.identity.normalize import normalize_ip


def _oracle(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


octet = st.one_of(st.integers(0, 255).map(str), st.integers(0, 999).map(lambda n: f"{n:03d}"),
                  st.sampled_from(["", "256", "-1", "1a", " 1", "00", "0x1"]))


@settings(max_examples=50)
@given(st.lists(octet, min_size=3, max_size=5), st.sampled_from([".", ":", ".."]), st.sampled_from(["", " ", "\n"]))
def test_dotted_quads_like_ipaddress(parts: list[str], sep: str, pad: str) -> None:
    text = pad + sep.join(parts) + pad
    assert normalize_ip(text) == _oracle(text)


def test_hand_picked() -> None:
    cases = {"10.0.3.250": "10.0.3.250", " 192.168.1.1 ": "192.168.1.1", "010.0.0.1": None, "256.1.1.1": None,
             "1.2.3": None, "1.2.3.4.5": None, "2001:DB8::1": "2001:db8::1",
             "0.0.0.0": "0.0.0.0", "not an ip": None}
    for raw, want in cases.items():
        assert normalize_ip(raw) == want == _oracle(raw), raw
