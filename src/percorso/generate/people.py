"""The simulated population: names, contacts, devices, memberships (numpy arrays).

Faker (it_IT) is only used to draw small pools of first and last names; every person then
picks from the pools by index, so a million people cost a few numpy calls. Identifiers that
real systems would share are shared here on purpose: ~2 % of people use a relative's email
(family emails), and store tablets are used by many people (see :mod:`.journeys`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from faker import Faker

from percorso.generate import fmt
from percorso.generate.catalog import EMAIL_DOMAINS, STORES

_HEX_PAIRS = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint16)  # byte -> its two hex digits
_MONTH = "ABCDEHLMPRST"
_ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8,
                 12, 14, 16, 10, 22, 25, 24, 23]))


def hex_ids(rng: np.random.Generator, n: int, nbytes: int = 16, dashes: bool = True) -> pa.Array:
    """Random hex identifiers (UUID-shaped when ``dashes``), vectorised."""
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    hexed = _HEX_PAIRS[raw].view(np.uint8).reshape(n, nbytes * 2)  # one gather of two characters per byte
    if dashes and nbytes == 16:
        chars = np.full((n, 36), ord("-"), dtype=np.uint8)
        for a, b, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
            chars[:, at: at + b - a] = hexed[:, a:b]
    else:
        chars = hexed
    return fixed_width_strings(chars)


def fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An (n, width) uint8 matrix of ASCII as an Arrow string array, without per-row work."""
    n, width = chars.shape
    offsets = (np.arange(n + 1, dtype=np.int64) * width).astype(np.int32)
    data = np.ascontiguousarray(chars, dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _ascii_letters(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in norm if ch.isascii() and ch.isalpha())


def _cf_part(text: str, is_name: bool) -> str:
    letters = _ascii_letters(text).upper()
    cons = [c for c in letters if c not in "AEIOU"]
    vows = [c for c in letters if c in "AEIOU"]
    if is_name and len(cons) >= 4:
        cons = [cons[0], cons[2], cons[3]]
    return ("".join(cons + vows) + "XXX")[:3]


@dataclass
class Persons:
    """Column arrays of the population; index = person number, ``person_id`` = ``P`` + number."""

    n: int
    first: pa.Array
    last: pa.Array
    female: np.ndarray
    birth_day: np.ndarray          # days since 1900-01-01
    store: np.ndarray              # home store index into STORES
    email: pa.Array                # canonical (lowercase); family-shared for some
    family_of: np.ndarray          # -1 or the person whose email this one uses
    phone: pa.Array                # 10 digits, canonical Italian mobile
    codice_fiscale: pa.Array
    person_id: pa.Array
    user_id: pa.Array              # web account id ("" when the person has no account)
    has_account: np.ndarray
    newsletter: np.ndarray
    loyalty: np.ndarray
    card: pa.Array
    app_user: np.ndarray
    app_device: pa.Array
    app_anon: pa.Array
    n_devices: np.ndarray
    cookies: pa.Array              # n × 3 cookies flattened: person p device k → p*3 + k
    propensity: np.ndarray


def make_persons(n: int, rng: np.random.Generator, seed: int) -> Persons:
    """Draw ``n`` people. Deterministic for a given ``rng`` state and ``seed``."""
    fake = Faker("it_IT")
    fake.seed_instance(seed)
    males = sorted({fake.first_name_male() for _ in range(300)})
    females = sorted({fake.first_name_female() for _ in range(300)})
    lasts = sorted({fake.last_name() for _ in range(600)})
    female = rng.random(n) < 0.52
    fi = np.where(female, rng.integers(0, len(females), n), rng.integers(0, len(males), n))
    fpool = males + females
    fidx = np.where(female, fi + len(males), fi)
    lidx = rng.integers(0, len(lasts), n)
    first = fmt.take(fpool, fidx)
    last = fmt.take(lasts, lidx)

    # email: local part from name pools (ascii, lowercase) + digits
    f_ascii = [_ascii_letters(x).lower() for x in fpool]
    l_ascii = [_ascii_letters(x).lower() for x in lasts]
    fa, la = fmt.take(f_ascii, fidx), fmt.take(l_ascii, lidx)
    finit = pc.utf8_slice_codeunits(fa, 0, 1)
    pattern = rng.integers(0, 4, n)
    domain = fmt.take(EMAIL_DOMAINS, rng.choice(len(EMAIL_DOMAINS), n, p=[.35, .2, .12, .1, .08, .06, .05, .04]))
    local = fmt.where(pattern == 0, fmt.join(fa, ".", la), fmt.where(
        pattern == 1, fmt.join(fa, la), fmt.where(pattern == 2, fmt.join(finit, ".", la), fmt.join(la, "_", fa))))
    # the person number keeps unrelated people apart; shared emails are made on purpose below
    email = fmt.join(local, fmt.num(np.arange(n) + 1), "@", domain)

    family_of = np.full(n, -1, dtype=np.int64)
    fam = np.flatnonzero(rng.random(n) < 0.02)
    if n > 1 and fam.size:
        partner = (fam + rng.integers(1, n, fam.size)) % n
        partner = np.where(np.isin(partner, fam), (partner + 1) % n, partner)
        keep = ~np.isin(partner, fam)
        family_of[fam[keep]] = partner[keep]
    src = np.where(family_of >= 0, family_of, np.arange(n))
    email = email.take(pa.array(src))

    prefix = rng.choice(np.array([320, 328, 331, 333, 335, 338, 339, 340, 345, 347, 348, 349, 366, 380, 388, 392]), n)
    phone = fmt.join(fmt.num(prefix), fmt.zpad(rng.integers(0, 10_000_000, n), 7))

    birth_day = rng.integers(365 * 40, 365 * 106, n)  # ~1940 .. 2005
    store = rng.integers(0, len(STORES), n)
    cf = _codici_fiscali(fpool, lasts, fidx, lidx, female, birth_day, store)
    has_account = rng.random(n) < 0.35
    user_id = fmt.where(has_account, fmt.join("u_", fmt.zpad(np.arange(n) * 7919 % 10_000_019, 8)), "")
    loyalty = rng.random(n) < 0.35
    card = fmt.where(loyalty, fmt.join("2900", fmt.zpad(np.arange(n) * 104_729 % 1_000_000_007, 9)), "")
    app_user = rng.random(n) < 0.2
    n_devices = rng.choice([1, 2, 3], n, p=[0.55, 0.35, 0.10])
    return Persons(
        n=n, first=first, last=last, female=female, birth_day=birth_day, store=store, email=email,
        family_of=family_of, phone=phone, codice_fiscale=cf,
        person_id=fmt.join("P", fmt.zpad(np.arange(n), 7)), user_id=user_id, has_account=has_account,
        newsletter=rng.random(n) < 0.25, loyalty=loyalty, card=card, app_user=app_user,
        app_device=hex_ids(rng, n, 8, dashes=False), app_anon=hex_ids(rng, n),
        n_devices=n_devices, cookies=hex_ids(rng, n * 3), propensity=rng.normal(0, 0.5, n),
    )


def _codici_fiscali(fpool, lasts, fidx, lidx, female, birth_day, store) -> pa.Array:
    """Valid Italian tax codes (codice fiscale) with the official check character, vectorised."""
    fcode = np.array([_cf_part(x, True) for x in fpool], dtype="S3")[fidx]
    lcode = np.array([_cf_part(x, False) for x in lasts], dtype="S3")[lidx]
    days = np.datetime64("1900-01-01") + birth_day.astype("timedelta64[D]")
    y = days.astype("datetime64[Y]").astype(int) + 1970
    m = days.astype("datetime64[M]").astype(int) % 12
    d = (days - days.astype("datetime64[M]")).astype(int) + 1 + np.where(female, 40, 0)
    month = np.frombuffer(_MONTH.encode(), dtype="S1")[m]
    yy = np.char.zfill((y % 100).astype("U2"), 2).astype("S2")
    dd = np.char.zfill(d.astype("U2"), 2).astype("S2")
    town = np.array([s[3] for s in STORES], dtype="S4")[store]
    body = np.char.add(np.char.add(np.char.add(np.char.add(np.char.add(lcode, fcode), yy), month), dd), town)
    chars = body.view(np.uint8).reshape(-1, 15)
    odd = np.zeros(256, dtype=np.int64)
    even = np.zeros(256, dtype=np.int64)
    for ch, v in _ODD.items():
        odd[ord(ch)] = v
        even[ord(ch)] = int(ch) if ch.isdigit() else ord(ch) - 65
    total = odd[chars[:, 0::2]].sum(axis=1) + even[chars[:, 1::2]].sum(axis=1)
    check = (total % 26 + 65).astype(np.uint8).view("S1")
    return fixed_width_strings(np.hstack([chars, check.view(np.uint8).reshape(-1, 1)]))
