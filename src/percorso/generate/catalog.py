"""Fixed reference data of the demo retailer: stores, products, channels, campaigns, seasons.

The demo company ("Dormire Bene S.p.A.") sells mattresses, pillows, bed bases, sheets and
accessories in about twenty Italian stores, a web shop and an app. Everything here is small,
static and hand-written so that the generated files look plausible to an Italian marketer and
so that tests can name the values they expect.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Stores: (store_id, city, province, belfiore code of the city, latitude weight)
STORES: tuple[tuple[str, str, str, str], ...] = (
    ("MI01", "Milano", "MI", "F205"), ("MI02", "Milano", "MI", "F205"), ("RM01", "Roma", "RM", "H501"),
    ("RM02", "Roma", "RM", "H501"), ("TO01", "Torino", "TO", "L219"), ("NA01", "Napoli", "NA", "F839"),
    ("BO01", "Bologna", "BO", "A944"), ("FI01", "Firenze", "FI", "D612"), ("GE01", "Genova", "GE", "D969"),
    ("VE01", "Venezia", "VE", "L736"), ("VR01", "Verona", "VR", "L781"), ("PD01", "Padova", "PD", "G224"),
    ("BA01", "Bari", "BA", "A662"), ("PA01", "Palermo", "PA", "G273"), ("CT01", "Catania", "CT", "C351"),
    ("BS01", "Brescia", "BS", "B157"), ("BG01", "Bergamo", "BG", "A794"), ("PR01", "Parma", "PR", "G337"),
    ("MO01", "Modena", "MO", "F257"), ("TS01", "Trieste", "TS", "L424"), ("CA01", "Cagliari", "CA", "B354"),
)

#: Stores open every Sunday (city-centre stores of the largest cities); the others open on
#: December Sundays and the first Sunday of the sales only (:mod:`.hours`).
SUNDAY_STORES: frozenset[str] = frozenset({"MI01", "MI02", "RM01", "RM02", "TO01", "NA01"})

#: Products: (sku, name, category, price in euro cents). Names carry no ``,`` or ``;``.
PRODUCTS: tuple[tuple[str, str, str, int], ...] = (
    ("MAT-001", "Materasso Memory Comfort 160x190", "materassi", 69900),
    ("MAT-002", "Materasso Molle Insacchettate 160x190", "materassi", 89900),
    ("MAT-003", "Materasso Lattice Naturale 160x200", "materassi", 129900),
    ("MAT-004", "Materasso Singolo Memory 80x190", "materassi", 34900),
    ("MAT-005", "Materasso Ibrido Premium 180x200", "materassi", 189900),
    ("MAT-006", "Materasso Ortopedico 90x200", "materassi", 44900),
    ("CUS-001", "Cuscino Memory Cervicale", "cuscini", 5900),
    ("CUS-002", "Cuscino Piuma d'Oca", "cuscini", 8900),
    ("CUS-003", "Cuscino Lattice Traspirante", "cuscini", 4900),
    ("CUS-004", "Cuscino Bambino Anallergico", "cuscini", 3200),
    ("CUS-005", "Cuscino Gel Rinfrescante", "cuscini", 11900),
    ("RET-001", "Rete a Doghe Matrimoniale", "reti", 24900),
    ("RET-002", "Rete Elettrica Alzabile", "reti", 79900),
    ("RET-003", "Letto Contenitore Tessuto", "reti", 59900),
    ("LEN-001", "Completo Lenzuola Cotone Matrimoniale", "lenzuola", 6900),
    ("LEN-002", "Completo Lenzuola Percalle", "lenzuola", 9900),
    ("LEN-003", "Piumone Quattro Stagioni", "lenzuola", 14900),
    ("ACC-001", "Coprimaterasso Impermeabile", "accessori", 3900),
    ("ACC-002", "Topper Memory 5cm", "accessori", 12900),
    ("ACC-003", "Federe Cotone (2 pezzi)", "accessori", 1900),
)

#: Main need of a purchase cycle → probability (categories of PRODUCTS).
CATEGORY_WEIGHTS: dict[str, float] = {
    "materassi": 0.40, "cuscini": 0.25, "reti": 0.10, "lenzuola": 0.15, "accessori": 0.10,
}


@dataclass(frozen=True)
class ChannelSpec:
    """One simulated channel: how often it reaches a person, where in the funnel it acts, and
    its hidden true effect (the single source of truth of :mod:`.funnel`).

    ``true_effect`` is the additive change, per contact, in the log-odds of the funnel step the
    channel works on (``funnel``): ``upper`` channels move a person from awareness to
    consideration, ``mid`` channels from consideration to a purchase decision, each also a
    little at the other step (:data:`percorso.generate.funnel.FIT`); ``navigational`` visits
    are made by people who already know the shop and do almost nothing; ``membership``
    (Loyalty) is no contact but a state that helps at both steps. ``pull`` channels are ones
    the person seeks out (search, comparison sites, the store, a call), so they come more often
    once the person is considering; the others are pushed by the retailer at any stage.
    ``share`` is the channel's weight among contacts before the pull adjustment.
    """

    name: str
    share: float
    true_effect: float
    description: str
    funnel: str = "mid"
    pull: bool = False


CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("Paid Search", 0.16, 0.90, "Google Ads search clicks (gclid + utm_medium=cpc); brand-term clicks "
                "of people who already decided are navigational", "mid", True),
    ChannelSpec("Paid Social", 0.10, 0.35, "Meta ads clicks (fbclid + utm_medium=paid_social)", "upper"),
    ChannelSpec("Display", 0.07, 0.10, "Display banner clicks (utm_medium=display)", "upper"),
    ChannelSpec("Affiliates", 0.04, 0.40, "Affiliate network clicks (utm_medium=affiliate)", "upper"),
    ChannelSpec("Paid Shopping", 0.05, 0.80, "Paid listings on trovaprezzi.it / idealo.it (utm_medium=cpc)",
                "upper", True),
    ChannelSpec("Organic Shopping", 0.03, 0.60, "Unpaid visits referred by trovaprezzi.it / idealo.it", "upper", True),
    ChannelSpec("Organic Search", 0.14, 0.70, "Visits from google.it / bing.com results; brand queries of people "
                "who already decided are navigational", "mid", True),
    ChannelSpec("Organic Social", 0.04, 0.15, "Visits from facebook.com / instagram.com posts", "upper"),
    ChannelSpec("Referral", 0.03, 0.30, "Visits from blogs and review sites", "mid", True),
    ChannelSpec("Direct", 0.09, 0.05, "Visits with no referrer and no campaign: people who know the address",
                "navigational", True),
    ChannelSpec("Email", 0.08, 0.45, "Newsletter link clicks (utm_medium=email); subscribers only", "mid"),
    ChannelSpec("Mobile Push Notifications", 0.03, 0.25, "App opens from a push (utm_medium=push); app users only", "mid"),
    ChannelSpec("Store / POS", 0.07, 1.20, "Store visits without a purchase (consulenza in negozio)", "mid", True),
    ChannelSpec("Events & fairs", 0.02, 0.60, "Visits to our stand at trade fairs", "upper"),
    ChannelSpec("Direct mail / flyer", 0.04, 0.30, "Flyers with a coupon code", "upper"),
    ChannelSpec("Call center", 0.02, 0.50, "Pre-sale information calls", "mid", True),
    ChannelSpec("Loyalty", 0.00, 0.55, "Loyalty card membership (helps every step after signup; no contact)",
                "membership"),
)
CHANNEL_NAMES: tuple[str, ...] = tuple(c.name for c in CHANNELS)
CH = {name: i for i, name in enumerate(CHANNEL_NAMES)}

#: Channels whose touch is a web (or app) session.
WEB_CHANNELS: tuple[str, ...] = (
    "Paid Search", "Paid Social", "Display", "Affiliates", "Paid Shopping", "Organic Shopping",
    "Organic Search", "Organic Social", "Referral", "Direct", "Email", "Mobile Push Notifications",
)

#: Campaign prefix, utm_source, utm_medium of the channels run as campaigns (costs: :data:`MEDIA`).
PAID: dict[str, tuple[str, str, str]] = {
    "Paid Search": ("search", "google", "cpc"),
    "Paid Social": ("social", "facebook", "paid_social"),
    "Display": ("display", "gdn", "display"),
    "Affiliates": ("affiliate", "awin", "affiliate"),
    "Paid Shopping": ("shopping", "trovaprezzi", "cpc"),
    "Email": ("newsletter", "newsletter", "email"),
    "Mobile Push Notifications": ("push", "app", "push"),
    "Direct mail / flyer": ("volantino", "volantino", "print"),
    "Events & fairs": ("fiera", "fiera", "offline"),
}

@dataclass(frozen=True)
class MediaCost:
    """How an ad channel is bought and what it costs (euro, Italian market 2024–2025).

    The platform counts more clicks than the site sees as visits of simulated people: visitors
    who refuse the analytics cookies (common in Italy), people who are no prospect of the shop
    and leave at once, accidental clicks. ``tracked`` is the share of the platform's clicks that
    are tracked visits; the cost report's clicks are the tracked ones divided by it. Impressions
    follow from clicks and a click-through rate drawn in ``ctr``; the cost from clicks and a
    cost per click in ``cpc`` (search, shopping, affiliates) or from impressions and a cost per
    thousand in ``cpm`` (social, display).
    """

    tracked: float
    ctr: tuple[float, float]
    cpc: tuple[float, float] | None = None
    cpm: tuple[float, float] | None = None


MEDIA: dict[str, MediaCost] = {
    "Paid Search": MediaCost(0.25, (0.020, 0.030), cpc=(1.60, 2.40)),
    "Paid Social": MediaCost(0.22, (0.009, 0.014), cpm=(10.0, 14.0)),
    "Display": MediaCost(0.18, (0.005, 0.008), cpm=(5.0, 8.0)),
    "Affiliates": MediaCost(0.40, (0.006, 0.012), cpc=(0.90, 1.30)),
    "Paid Shopping": MediaCost(0.25, (0.010, 0.018), cpc=(0.60, 0.90)),
}
#: Cost per click of the always-on brand search campaign, as a share of the others' (people
#: who search the shop's name are cheap to win).
BRAND_CPC = 0.3
#: Cost per click uplift in the busiest seasons (more advertisers bid): season name → factor.
SEASON_CPC: dict[str, float] = {"black_friday": 1.35, "natale": 1.2, "saldi_inverno": 1.1, "saldi_estate": 1.1}
#: The reference retailer: fixed fees below are for this many simulated people and scale with
#: the population, so a smaller demo keeps the same returns on spend.
REFERENCE_PEOPLE = 20_000
#: The e-mail platform's monthly fee (licence, templates, deliverability), booked on the send days.
ESP_MONTHLY = 1_150.0
#: Flyers: the print run per recorded recipient (only known customers, reached at their CRM
#: address, are recorded; the drop covers their neighbourhoods) and print + distribution per
#: flyer (euro).
FLYER_RUN = 25
FLYER_PIECE = (0.12, 0.16)
#: Trade fairs: stand, fittings and staff per recorded visitor to the stand (euro).
FAIR_VISITOR = (25.0, 40.0)
#: Stated monthly spend ranges at :data:`REFERENCE_PEOPLE` people (tests check every month).
MONTHLY_SPEND: dict[str, tuple[float, float]] = {
    "Paid Search": (800.0, 8_000.0), "Paid Social": (500.0, 6_000.0), "Display": (400.0, 5_000.0),
    "Email": (900.0, 1_300.0),
}

#: Seasons: (name, month-day start, month-day end inclusive, purchase intensity weight).
SEASONS: tuple[tuple[str, str, str, float], ...] = (
    ("saldi_inverno", "01-02", "02-28", 1.9),
    ("primavera", "03-01", "05-31", 0.9),
    ("estate", "06-01", "06-30", 0.8),
    ("saldi_estate", "07-01", "08-31", 1.5),
    ("autunno", "09-01", "11-20", 0.9),
    ("black_friday", "11-21", "12-01", 3.2),
    ("natale", "12-02", "12-31", 2.2),
)

FAIRS: tuple[tuple[str, str], ...] = (
    ("Salone del Mobile Milano", "MI01"), ("Fiera di Bologna Casa", "BO01"),
    ("Fiera del Levante Bari", "BA01"), ("Mostra Casa Roma", "RM01"), ("Fiera Verona Abitare", "VR01"),
)

REFERRALS: tuple[str, ...] = (
    "https://www.altroconsumo.it/casa/materassi", "https://blog.dormireinforma.it/guida-materassi",
    "https://www.giallozafferano.it/", "https://www.vivereinsalute.it/sonno",
)
ORGANIC_SEARCH = ("https://www.google.it/", "https://www.google.com/", "https://www.bing.com/")
ORGANIC_SOCIAL = ("https://l.facebook.com/", "https://www.instagram.com/", "https://m.facebook.com/")
SHOPPING_SITES = ("https://www.trovaprezzi.it/materassi", "https://www.idealo.it/cat/materassi")
SITE = "https://www.dormirebene.it"
#: Landing pages → (weight among sessions that buy or try to, weight among the others); the
#: ratio is how much better or worse than the average a page converts (:func:`.web.landing`).
LANDING: dict[str, tuple[float, float]] = {
    "/": (0.16, 0.18), "/materassi": (0.24, 0.14), "/cuscini": (0.10, 0.08), "/reti-a-doghe": (0.07, 0.06),
    "/lenzuola": (0.08, 0.07), "/offerte": (0.25, 0.10), "/negozi": (0.04, 0.17),
    "/blog/come-scegliere-materasso": (0.06, 0.20),
}
PAGES = tuple(LANDING)
EMAIL_DOMAINS = ("gmail.com", "libero.it", "hotmail.it", "yahoo.it", "outlook.it", "virgilio.it", "tiscali.it", "alice.it")
