"""Common controls of every journey analysis, and the one step stream they all read.

Why: paths, transitions, Sankey, funnels, friction and the journey map must agree on what a
"step" is. A marketer sets the date range, whether a journey is the whole customer history or
one session, what a node is (event type, channel, campaign, page, store, stage, or any
property), path cleaning (regex → alias), collapsing repeats, excluded nodes and a segment;
:func:`journey_steps` turns those controls into one Ibis table that every analysis reads, so
the same controls mean the same thing everywhere and nothing is computed outside the engine.

Node values and patterns are data, never code: node definitions are allowlisted, property
keys must be plain names, regexes run in the engine's RE2 engine (linear time), and all
values are bound as literals by Ibis.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

import ibis
import ibis.expr.types as ir
from pydantic import field_validator

from percorso.analysis.base import AnalysisQuery, bilingual_note
from percorso.errors import InputError, NotFound, PercorsoError, suggest
from percorso.events import GENERIC_EVENT_TYPE, RECORD_KEEPING_EVENT_TYPES

if TYPE_CHECKING:
    from percorso.engine import Engine

#: Node definitions → touchpoint column. ``property:<key>`` reads a key of ``properties``.
NODE_COLUMNS: dict[str, str] = {
    "event_type": "event_type",
    "event_name": "event_name",
    "channel": "channel",
    "campaign": "campaign",
    "page": "page_url",
    "store": "store_id",
    "stage": "stage",
    "source": "source_system",
    "device": "device_type",
    "region": "region",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
}
#: The default node: the event type, except that a generic event (type :data:`CUSTOM_TYPE`, what a
#: clickstream's own event names become) is labelled by its name, so ``funnel catalog cart``
#: works on any clickstream without knowing ``--node event_name``.
EVENT_NODE = "event"
CUSTOM_TYPE = GENERIC_EVENT_TYPE
#: Compound nodes: the label joins two columns, e.g. ``channel+event_type`` → ``Email · email_click``.
NODE_SEPARATOR = " · "
_PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
#: Label for touchpoints whose node column is empty (never silently dropped).
MISSING_LABEL = "(none)"
PURCHASE_TYPES = ("purchase", "receipt")
#: ``--start`` / ``--end`` spellings that match what a touchpoint *is*, whatever the node:
#: a purchase anywhere, online, or in a store (value: the ``online`` flag it needs, None = any).
#: Why: with ``--node channel`` (or page, campaign…) no node label says "bought in a store",
#: and with ``--node event_type`` ``receipt`` is one till's word for it; these read the step's
#: purchase and online flags, so "paths that end with a purchase in store" is one spelling.
PURCHASE_ANCHORS: dict[str, bool | None] = {"purchase:any": None, "purchase:online": True, "purchase:store": False}
#: Record-keeping events that are not contacts with the customer: the build already keeps them
#: out of ``touchpoints`` (one definition, in the event contract); the filter below guards
#: tables written by an older build.
ADMIN_EVENT_TYPES = RECORD_KEEPING_EVENT_TYPES
#: Valid labels listed in an unknown-label error (pages or campaigns can be thousands).
_SHOWN_LABELS = 30


class JourneyQuery(AnalysisQuery):
    """Controls shared by every journey analysis.

    Parameters
    ----------
    node
        What a step is: ``event`` (the default: the event type, a generic event's own name),
        one of :data:`NODE_COLUMNS`, ``property:<key>``, or two of them joined by ``+``
        (``channel+event_type``).
    scope
        ``customer``: a journey is the whole history of a customer; ``session``: one session.
    clean
        Path cleaning rules ``(regex, alias)``: a node whose label matches ``regex`` becomes
        ``alias`` (first matching rule wins), e.g. ``("^https://shop.it/p/", "product page")``.
    collapse_repeats
        Merge consecutive identical nodes into one step (``A A B`` → ``A B``).
    exclude
        Node labels (after cleaning) to leave out of the journey.
    breakdown
        A node definition to split results by (paths: its value at the journey's first
        touchpoint; transitions: at the *from* touchpoint; funnels: see ``breakdown_attribution``).
    online
        Keep only online (``True``) or offline (``False``) touchpoints; ``None`` keeps both.
    """

    node: str = EVENT_NODE
    scope: Literal["customer", "session"] = "customer"
    clean: tuple[tuple[str, str], ...] = ()
    collapse_repeats: bool = False
    exclude: tuple[str, ...] = ()
    online: bool | None = None
    breakdown: str | None = None

    @field_validator("node", "breakdown")
    @classmethod
    def _known_node(cls, value: str | None) -> str | None:
        for part in (value or "").split("+") if value else ():
            node_column_check(part)
        return value

    @property
    def journey_is_customer(self) -> bool:
        """Whether each journey is a whole customer (``scope="customer"``): its ``journey_id`` is
        the customer id (:func:`journey_steps`), so an analysis counts journeys as customers and
        need not carry or count the customer id apart."""
        return self.scope == "customer"

    def typed_steps(self) -> tuple[str, ...]:
        """Node labels the user typed (funnel steps, anchors), read by :func:`resolve_steps`."""
        return ()

    def resolve(self, engine: Engine) -> tuple[JourneyQuery, list[str]]:
        """The query with its typed step names read against the data (:func:`resolve_steps`)."""
        query, note = resolve_steps(engine, self, self.typed_steps())
        return query, [note] if note else []

    @field_validator("clean")
    @classmethod
    def _valid_patterns(cls, value: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        for pattern, _alias in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"path cleaning regex {pattern!r} is not valid: {exc}") from None
        return value


class AnchoredQuery(JourneyQuery):
    """Journey controls plus ``start`` / ``end`` anchors (paths, Sankey): a node label, or one of
    :data:`PURCHASE_ANCHORS` (``purchase:store``: a purchase in a store, whatever the node)."""

    start: str | None = None
    end: str | None = None

    @field_validator("start", "end")
    @classmethod
    def _known_anchor(cls, value: str | None) -> str | None:
        return anchor_check(value)

    def typed_steps(self) -> tuple[str, ...]:
        return typed_labels(x for x in (self.start, self.end) if x is not None)


def node_column_check(part: str) -> None:
    """Raise :class:`InputError` unless ``part`` is an allowed node definition."""
    if part.startswith("property:"):
        key = part.removeprefix("property:")
        if not _PROPERTY_KEY.match(key):
            raise InputError(f"property key {key!r} is not a plain name (letters, digits, _ . -)")
        return
    if part not in NODE_COLUMNS and part != EVENT_NODE:
        raise InputError(f"unknown node '{part}'; {suggest(part, [EVENT_NODE, *NODE_COLUMNS, 'property:<key>'])}")


def anchor_check(value: str | None) -> str | None:
    """Raise :class:`InputError` for a ``purchase:…`` anchor that is not one of :data:`PURCHASE_ANCHORS`."""
    if value is not None and value.startswith("purchase:") and value not in PURCHASE_ANCHORS:
        raise InputError(f"unknown anchor '{value}'; {suggest(value, PURCHASE_ANCHORS)}")
    return value


def anchor_match(steps: ir.Table, anchor: str) -> ir.BooleanValue:
    """Steps an anchor (``--start`` / ``--end``) matches: a :data:`PURCHASE_ANCHORS` spelling by the
    step's purchase and online flags, anything else by its node label."""
    if anchor not in PURCHASE_ANCHORS:
        return steps.node == anchor
    online = PURCHASE_ANCHORS[anchor]
    return steps.is_purchase if online is None else steps.is_purchase & (steps.online == online)


def typed_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """The node labels among anchors a user typed (the ``purchase:…`` spellings are not labels)."""
    return tuple(x for x in labels if x not in PURCHASE_ANCHORS)


#: An e-mail address in a page address, plain or URL-encoded (``mario%40esempio.it``).
EMAIL_IN_URL = r"[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
#: What an e-mail in a page label becomes.
EMAIL_MASK = "[e-mail]"


def page_label(url: ir.StringValue) -> ir.StringValue:
    """A page as a journey step: its address without the query string and fragment, any e-mail
    left in the path masked.

    Why at the query: a page address is tracking data a viewer reads on every face (CLI, API,
    dashboard), and sites put contact data in it (``/newsletter/confirm?email=…``,
    ``/unsubscribe/mario%40esempio.it``). The query string also holds campaign tags, search
    terms and session tokens: the campaign has its own node, and without it one page is one
    step (the demo's landing pages were split by every ``utm_*`` value). Drill-downs select on
    this same label, so they still find the customers behind it.
    """
    return url.re_replace(r"[?#].*$", "").re_replace(EMAIL_IN_URL, EMAIL_MASK)


def _node_part(t: ir.Table, part: str) -> ir.StringValue:
    if part == EVENT_NODE:
        value = (t.event_type == CUSTOM_TYPE).ifelse(t.event_name.fill_null(CUSTOM_TYPE), t.event_type)
    elif part.startswith("property:"):
        key = part.removeprefix("property:")
        value = t.properties.cast("json")[key].unwrap_as("string")
    elif part == "page":
        value = page_label(t.page_url.cast("string"))
    else:
        value = t[NODE_COLUMNS[part]].cast("string")
    return value.fill_null(MISSING_LABEL)


def node_details(*nodes: str | None) -> list[str]:
    """The touchpoint details (:data:`~percorso.build.schema.TOUCHPOINT_DETAILS`, read from
    ``events``) the labels of ``nodes`` read: a page, region or property node needs its join."""
    from percorso.build.details import details_in

    parts = [p for node in nodes if node for p in node.split("+")]
    return details_in("properties" if p.startswith("property:") else NODE_COLUMNS.get(p, p) for p in parts)


def node_label(t: ir.Table, node: str) -> ir.StringValue:
    """The node label of each touchpoint for a node definition (see :class:`JourneyQuery`)."""
    parts = [_node_part(t, p) for p in node.split("+")]
    label = parts[0]
    for extra in parts[1:]:
        label = label + NODE_SEPARATOR + extra
    return label


def _day_bound(value: date | datetime, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1) if end else value, time())


def scoped_touchpoints(engine: Engine, query: AnalysisQuery) -> ir.Table:
    """Touchpoints with a customer, filtered by date range (local days), segment and online flag.

    Record-keeping events (:data:`ADMIN_EVENT_TYPES`: an identify call, a CRM record update)
    are not contacts with the customer and are left out of every journey analysis.
    """
    t = engine.table("touchpoints")
    t = t.filter(t.customer_id.notnull() & ~t.event_type.isin(ADMIN_EVENT_TYPES))
    # dates are local days of the project, a datetime a local wall time (occurred_at_local)
    at = t.occurred_at_local
    if query.date_from is not None:
        t = t.filter(at >= _day_bound(query.date_from, end=False))
    if query.date_to is not None:
        # a date is inclusive (the whole day); a datetime is an exact upper bound
        bound = _day_bound(query.date_to, end=True)
        t = t.filter(at < bound if not isinstance(query.date_to, datetime) else at <= bound)
    if getattr(query, "online", None) is not None:
        t = t.filter(t.online == query.online)
    if query.segment:
        from percorso.value.segments.store import members

        ids = members(engine, query.segment)
        t = t.semi_join(ids, "customer_id")
    return t


def journey_steps(engine: Engine, query: JourneyQuery, *, breakdown: str | None = None,
                  drop_types: tuple[str, ...] = (), only_nodes: list[str] | None = None,
                  numbered: bool = True, numbers: bool = False, codes: ir.Table | None = None,
                  vocabulary: Sequence[str] | None = None) -> ir.Table:
    """The step stream every journey analysis reads.

    Columns: ``journey_id`` (customer id, or session id with ``scope="session"``),
    ``customer_id``, ``event_id``, ``occurred_at``, ``node``, ``event_type``, ``channel``,
    ``online``, ``store_id``, ``order_id``, ``revenue``, ``is_purchase`` and ``step``
    (1-based position in the journey after cleaning, exclusion and collapsing). Ties in time
    are ordered by ``event_id`` so the result never depends on storage order. With
    ``breakdown`` (a node definition) a ``breakdown`` column holds that label too.
    ``drop_types``: event types left out before steps are numbered (friction leaves out the
    company's outbound actions, :data:`percorso.events.types.OUTBOUND_EVENT_TYPES`).
    ``only_nodes``: keep only the steps with these node labels, *before* they are numbered.
    Why: numbering is a sort of every touchpoint of every journey (the cost of an analysis at
    10M events); an analysis that only compares the order of a few nodes' steps (a funnel
    that is not strict) gets the same order from numbering only those (a third of the rows
    for ``product_view cart purchase``, ADR 0035). ``step`` is then the rank among the kept
    steps, not the position in the whole journey; not with ``collapse_repeats`` (a run is
    made of the neighbours that filter would drop). ``numbered=False``: no ``step`` column
    (nor the sort that makes it), for an analysis that orders each journey itself.

    With the build's stored position (``touchpoints.seq``, the customer's order by time and
    event id) the steps carry it as ``seq`` and every order here is by it (:func:`step_order`),
    one integer instead of (time, 32-character id): the same order, since a journey (a
    customer's, or a session of theirs) is a subset of a customer's touchpoints. With
    ``only_nodes`` the stored position *is* the step number (an order, not a rank: only its
    comparisons are read), so no window at all. A table written without it (an older build)
    takes the sort by time and id.

    ``numbers``: ``customer_id`` (and ``journey_id`` with ``scope="customer"``) hold the
    customers' numbers (``touchpoints.customer_no``, ADR 0062) instead of their ids, when the
    touchpoints have them (not the lake's): for an analysis that only partitions, groups, joins
    and counts by them and shows no id. Sorting and hashing one integer costs a fraction of a
    string: 10M events, the transitions' window 2.0-2.5 → 1.3 s. A drill-down, which lists the
    customers, reads the ids (the default); the two are one to one, so they select the same ones.

    ``codes``: the query's :func:`step_codes`; ``node`` is then each step's label number, joined
    by the columns the label is made of (no label text per step). Not with ``exclude`` or
    ``only_nodes`` (they name labels).

    ``vocabulary``: labels (:func:`step_vocabulary`, or those an analysis looks for); ``node`` is
    then each step's position in it (:func:`label_numbers`, compared on the columns the label is
    made of, no join and no label text), ``exclude`` and ``only_nodes`` compared on those columns
    too (:func:`label_in`). A step whose label is not in it has no number: keep it out with
    ``only_nodes``.
    """
    if only_nodes is not None and query.collapse_repeats:
        raise ValueError("only_nodes cannot be combined with collapse_repeats")
    t = scoped_touchpoints(engine, query)
    if drop_types:
        t = t.filter(~t.event_type.isin(list(drop_types)))
    details = node_details(query.node, breakdown)
    if details:
        from percorso.build.details import with_details

        t = with_details(engine, t, details)
    if codes is not None:
        if query.exclude or only_nodes is not None:
            raise ValueError("codes cannot be combined with exclude or only_nodes")
        read = [c for c in codes.columns if c not in ("node", "_code")]
        t = t.join(codes.drop("node"), [t[c].identical_to(codes[c]) for c in read])
        label = t._code
    elif vocabulary is not None:
        # picked before the columns are chosen: the engine filters as it reads the touchpoints
        # (after them, the steps of every label went to each reader of the funnel's steps)
        t = _numbered_only(t, query, only_nodes)
        label = label_numbers(t, query, vocabulary)
    else:
        label = step_label(t, query)
    customer = t.customer_no if numbers and "customer_no" in t.columns else t.customer_id
    journey = customer if query.journey_is_customer else t.session_id.fill_null(t.customer_id)
    s = t.select(
        journey_id=journey,
        customer_id=customer,
        event_id=t.event_id,
        occurred_at=t.occurred_at,
        node=label,
        event_type=t.event_type,
        channel=t.channel,
        online=t.online,
        store_id=t.store_id,
        order_id=t.order_id,
        revenue=t.revenue,
        is_purchase=t.event_type.isin(PURCHASE_TYPES),
        breakdown=node_label(t, breakdown) if breakdown else ibis.null().cast("string"),
        **({"seq": t.seq} if "seq" in t.columns else {}),
    )
    if query.exclude and vocabulary is None:
        s = s.filter(~s.node.isin(list(query.exclude)))
    if only_nodes is not None and vocabulary is None:
        s = s.filter(s.node.isin(list(only_nodes)))
    if not numbered and not query.collapse_repeats:
        return s
    if only_nodes is not None and "seq" in s.columns:
        return s.mutate(step=s.seq)
    order = ibis.window(group_by=s.journey_id, order_by=step_order(s))
    if query.collapse_repeats:
        # a run of identical nodes becomes its first step; a purchase inside the run is kept
        # on that step (with the run's revenue) so collapsing never hides a conversion
        prev = s.node.lag().over(order)
        s = s.mutate(_new=(prev.isnull() | (prev != s.node)).cast("int64"))
        s = s.mutate(_run=s._new.sum().over(ibis.window(group_by=s.journey_id, order_by=step_order(s),
                                                        rows=(None, 0))))
        run = ibis.window(group_by=[s.journey_id, s._run])
        s = s.mutate(is_purchase=s.is_purchase.max().over(run), revenue=s.revenue.sum(where=s.is_purchase).over(run),
                     online=ibis.cases((s.is_purchase.max().over(run), s.online.min(where=s.is_purchase).over(run)),
                                       else_=s.online))
        s = s.filter(s._new == 1).drop("_new", "_run")
        order = ibis.window(group_by=s.journey_id, order_by=step_order(s))
    return s.mutate(step=ibis.row_number().over(order) + 1)


def step_label(t: ir.Table, query: JourneyQuery) -> ir.StringValue:
    """The node label of each touchpoint of ``t`` as :func:`journey_steps` reads it: the
    query's node definition, then its path cleaning (regex → alias)."""
    label = node_label(t, query.node)
    if query.clean:
        cases = [(label.re_search(pattern), ibis.literal(alias)) for pattern, alias in query.clean]
        label = ibis.cases(*cases, else_=label)
    return label


def numbered_by_columns(query: JourneyQuery) -> bool:
    """Whether :func:`label_numbers` can number the labels of ``query``: the default node or one
    touchpoint column (not a page, which is cleaned of its query string), and no path cleaning."""
    return not query.clean and (query.node == EVENT_NODE or (query.node in NODE_COLUMNS and query.node != "page"))


def _label_columns(t: ir.Table, query: JourneyQuery) -> list[tuple[ir.StringValue, str | None, str]]:
    """The columns a step label (:func:`step_label`) is made of, for a query
    :func:`numbered_by_columns` (else :class:`ValueError`): each with the value it never labels
    itself and the label of its NULL. The default node's are the event name (a generic event's
    label) then the event type (every other's): :func:`label_numbers` and :func:`label_in` read
    them so, one rule for both."""
    if not numbered_by_columns(query):
        raise ValueError(f"node {query.node!r} (clean: {bool(query.clean)}) is not numbered by its columns")
    if query.node == EVENT_NODE:   # _node_part: a generic event by its name (no name: its type)
        return [(t.event_name.cast("string"), None, CUSTOM_TYPE),
                (t.event_type.cast("string"), CUSTOM_TYPE, MISSING_LABEL)]
    return [(t[NODE_COLUMNS[query.node]].cast("string"), None, MISSING_LABEL)]


def label_numbers(t: ir.Table, query: JourneyQuery, labels: Sequence[str]) -> ir.IntegerValue:
    """Each touchpoint's step label (:func:`step_label`) as its position in ``labels``, NULL when it
    is not among them; only for a query :func:`numbered_by_columns` (else :class:`ValueError`).

    Why: the label is text made for every touchpoint (the default node: a case and two fills),
    then compared, joined or grouped as text. Numbered here, the columns it is made of are
    compared with each label's values (an enumeration compares as a small integer) and no text
    is made: 10M events, exclusive hold, the funnel's statement CPU 1.8 -> 1.5 s, the
    transitions' (with :func:`step_vocabulary`, no join) 3.4 -> 3.1 s (SQL, 2026-12-07).
    """
    position = {x: k for k, x in enumerate(labels)}

    def numbered(column: ir.StringValue, skip: str | None, null: str) -> ir.IntegerValue:
        cases = [(column == x, k) for x, k in position.items() if x != skip]
        if null in position:
            cases.insert(0, (column.isnull(), position[null]))
        return ibis.cases(*cases, else_=ibis.null()) if cases else ibis.null()

    numbers = [numbered(*c) for c in _label_columns(t, query)]
    number = numbers[0] if len(numbers) == 1 else ibis.cases((t.event_type == CUSTOM_TYPE, numbers[0]),
                                                             else_=numbers[1])
    return number.cast("int32")


def label_in(t: ir.Table, query: JourneyQuery, labels: Iterable[str]) -> ir.BooleanValue:
    """Whether each touchpoint's step label (:func:`step_label`) is one of ``labels``, compared on
    the columns the label is made of (NULL where it is not); for a query :func:`numbered_by_columns`
    (else :class:`ValueError`).

    Why: a filter on the columns themselves is evaluated as the engine reads them (a list of
    values per column), where one on the label's number made it for every touchpoint first:
    10M events, the funnel's statement 0.83-0.86 -> 0.75-0.83 s (SQL, exclusive, 2026-12-07).
    """
    wanted = set(labels)

    def listed(column: ir.StringValue, skip: str | None, null: str) -> ir.BooleanValue:
        values = sorted(x for x in wanted if x != skip)
        match = column.isin(values) if values else ibis.literal(False)
        return match | column.isnull() if null in wanted else match

    matches = [listed(*c) for c in _label_columns(t, query)]
    return matches[0] if len(matches) == 1 else matches[1] | ((t.event_type == CUSTOM_TYPE) & matches[0])


def _numbered_only(t: ir.Table, query: JourneyQuery, only: Iterable[str] | None) -> ir.Table:
    """``t`` without the touchpoints whose label the query excludes, and with only those of
    ``only`` (:func:`label_in`), for steps numbered by their columns (:func:`label_numbers`)."""
    if query.exclude:
        t = t.filter(~label_in(t, query, query.exclude).fill_null(False))
    if only is not None:
        t = t.filter(label_in(t, query, only))
    return t


def step_vocabulary(engine: Engine, query: JourneyQuery) -> list[str] | None:
    """Every label the steps of ``query`` can carry, sorted, read from the values the touchpoints'
    columns are declared with (enumerations, ADR 0071), or None when the labels are not numbered by
    their columns (:func:`numbered_by_columns`) or those columns are not enumerations.

    Why: an analysis that numbers its steps' labels learnt them from the data first (a query of
    their distinct values, or a part of its statement); the enumerations' values are known from
    the table's types. A label no touchpoint carries (a value declared but filtered out, the
    missing label) only has a number nobody uses.
    """
    if not numbered_by_columns(query):
        return None
    enums = engine.enumerations("touchpoints")
    if query.node == EVENT_NODE:
        if "event_type" not in enums or "event_name" not in enums:
            return None
        labels = {x for x in enums["event_type"] if x != CUSTOM_TYPE} | set(enums["event_name"]) | {CUSTOM_TYPE}
    elif NODE_COLUMNS[query.node] in enums:
        labels = set(enums[NODE_COLUMNS[query.node]])
    else:
        return None
    return sorted(labels | {MISSING_LABEL})


def step_labels(engine: Engine, query: JourneyQuery) -> ir.Table | None:
    """Every node label the steps of ``query`` can carry (column ``node``; a few more when
    ``exclude`` leaves some out), or None when the labels read touchpoint details (a page, a
    property: :func:`node_details`).

    Why: an analysis that numbers the labels (:func:`percorso.journeys.transitions.node_codes`)
    took them from the steps, so the engine kept every step (10M rows with their label text) to
    read them twice, once for the labels and once for the numbered steps. The labels come as
    well from the distinct values of the columns they are made of (an event type and name,
    two small ENUM codes per row), which the engine groups as it scans them: 10M events,
    ``paths transitions`` 3.41 -> 3.08 s (CPU 5.9 -> 5.3 s; 4 runs each, 2026-12-07).
    """
    values = _label_values(engine, query)
    return None if values is None else values.select("node").distinct()


def step_codes(engine: Engine, query: JourneyQuery) -> ir.Table | None:
    """The distinct values of the touchpoint columns the steps' labels are made of, each with its
    label (``node``) and the label's number (``_code``: 0, 1, … in the labels' order), or None
    when the labels read touchpoint details (as :func:`step_labels`).

    Why: :func:`journey_steps` with ``codes`` numbers each step by a join on those columns (an
    event type and name, two small ENUM codes), so no step's label text is made at all; an
    analysis that groups steps by their nodes then carries one small integer per step
    (``paths top``: :func:`percorso.journeys.paths.coded_journey_paths`).
    """
    values = _label_values(engine, query)
    if values is None:
        return None
    return values.mutate(_code=ibis.dense_rank().over(order_by=values.node).cast("int32"))


def _label_values(engine: Engine, query: JourneyQuery) -> ir.Table | None:
    """The distinct values of the columns the labels of ``query`` read, with their label ``node``
    (:func:`step_labels`)."""
    if node_details(query.node):
        return None
    from ibis.expr.operations import Field   # loaded with Ibis already

    t = scoped_touchpoints(engine, query)
    # the columns of ``t`` the label reads (not those of the filters that made ``t``)
    columns = sorted({f.name for f in step_label(t, query).op().find(Field) if f.rel == t.op()})
    values = t.select(*columns).distinct()
    return values.mutate(node=step_label(values, query))


def step_order(steps: ir.Table) -> list[ir.Value]:
    """The order of a journey's steps: the stored position ``seq`` when the steps carry it, else
    time then event id (ties in time never depend on storage order). The same order either way
    (``touchpoints.seq`` numbers a customer's touchpoints by time and event id, ADR 0035)."""
    if "seq" in steps.columns:
        return [steps.seq]
    return [steps.occurred_at, steps.event_id]


def _vocabulary_node(query: JourneyQuery) -> bool:
    """Whether every event type is a label of the query's node (a vocabulary, not data)."""
    return query.node in ("event_type", EVENT_NODE) and not query.clean


def _named_types(engine: Engine, labels: Iterable[str]) -> dict[str, set[str]]:
    """For each label that is an ``event_name`` in the data: the event types it names.

    Each label is looked up once per read-only engine (:meth:`Engine.facts`): a funnel's command
    asks for its steps when it reads them (:func:`resolve_steps`) and again when it checks them
    (:func:`require_labels`)."""
    labels = list(labels)
    known = engine.facts("named_types")   # label -> the types it names (empty: not an event name)
    asked = sorted({x for x in labels if x not in known})
    if asked:
        t = engine.table("touchpoints")
        t = t.filter(t.customer_id.notnull() & ~t.event_type.isin(ADMIN_EVENT_TYPES) & t.event_name.isin(asked))
        # rows, not a pandas frame: the first query of a funnel's process is this one, and a frame
        # made it wait for pandas, imported meanwhile (engine.execute): ~0.15 s at 10M events;
        # unwaited, pandas comes in during the funnel's own statements (imports_meanwhile)
        known.update((x, set()) for x in asked)
        for row in engine.rows(t.select("event_name", "event_type").distinct()):
            known[str(row["event_name"])].add(str(row["event_type"]))
    return {x: set(known[x]) for x in labels if known[x]}


#: How :func:`resolve_steps` says it read the steps as source names, in both languages
#: (``meta["notes"]``); ``AnalysisResult.notes(lang)`` says it in one.
STEPS_NOTE = bilingual_note("passi letti come nomi di evento della sorgente", "steps read as source event names")


def resolve_steps(engine: Engine, query: JourneyQuery, labels: Iterable[str]) -> tuple[JourneyQuery, str | None]:
    """Read step names typed with the default node (``event``) the way a user means them.

    Why: a user names steps by what they see in their files. With the default node an event
    type (``add_to_cart``) and a clickstream's own event name (``catalog``, type ``custom``)
    both match. A name that is neither but is the source name of typed events (a GA4
    ``view_item``, stored as ``product_view``) is used as such when *every* step is a source
    event name: the query then reads ``--node event_name``, and the returned note says so. A
    name given both to generic events and to typed ones, or source names mixed with steps
    that are not, is ambiguous: :class:`InputError` says which node to pick. Other nodes, and
    names not in the data (left to :func:`require_labels`), pass unchanged. Costs one small
    query, only when a name is not an event type.
    """
    from percorso.events.types import EVENT_TYPES

    labels = sorted(set(labels))
    if query.node != EVENT_NODE or query.clean or all(x in EVENT_TYPES for x in labels):
        return query, None
    named = _named_types(engine, labels)
    for name, kinds in named.items():
        if CUSTOM_TYPE in kinds and len(kinds) > 1:
            others = ", ".join(sorted(kinds - {CUSTOM_TYPE}))
            raise InputError(f"step '{name}' is ambiguous: it names generic events and {others} events; use "
                             f"--node event_name for all of them, or --node event_type and the type ({others})")
    # a name that is itself the type of the events it names (``purchase`` named ``purchase``, or a
    # type outside the vocabulary written by a test or an older build) is what the node shows: not a source name
    source = sorted(x for x in labels if x not in EVENT_TYPES and named.get(x) and not {CUSTOM_TYPE, x} & named[x])
    if not source:
        return query, None
    if all(x in named for x in labels):
        note = f"{STEPS_NOTE} (--node event_name): {', '.join(labels)}"
        return query.model_copy(update={"node": "event_name"}), note
    hints = "; ".join(f"'{x}' is the source name of {', '.join(sorted(named[x]))} events" for x in source)
    raise InputError(f"{hints}: write the event type instead, or use --node event_name with the source names "
                     "of every step")


def require_labels(engine: Engine, query: JourneyQuery, labels: Iterable[str], *, what: str,
                   error: Callable[[str], PercorsoError] = NotFound) -> None:
    """Raise ``error`` (:class:`NotFound`) for a label that no touchpoint carries under ``query.node``.

    Why: a funnel step, ``--start`` or ``--end`` is matched by exact text, so a typo
    (``product_veiw``, ``Store/POS``) silently gave an empty result that reads as "nobody did
    that". The command line runs this for labels people typed, only when a result came out
    empty somewhere, so a normal run costs nothing; the Python API keeps "no match = zero". A label absent from the scope but present in the data (outside ``--from/--to``,
    the segment or the online filter), or a canonical event type no touchpoint has yet, is a
    legitimate zero and passes.
    """
    labels = sorted(set(labels))
    if _vocabulary_node(query):
        # a vocabulary, not data: a known type nobody has (no receipt yet) is a true zero
        from percorso.events.types import EVENT_TYPES

        labels = [x for x in labels if x not in EVENT_TYPES]
        if query.node == EVENT_NODE and labels:  # a generic event's name found in the data: one cheap scan
            named = _named_types(engine, labels)
            labels = [x for x in labels if CUSTOM_TYPE not in named.get(x, ())]
    if not labels:
        return
    whole = query.model_copy(update={"date_from": None, "date_to": None, "segment": None, "online": None})
    s = journey_steps(engine, whole)
    seen = s.filter(s.node.isin(labels)).select("node").distinct()
    # rows, not a pandas frame: a journey command printing JSON imports no pandas (analysis.rows)
    found = {r["node"] for r in engine.rows(seen)}
    missing = [x for x in labels if x not in found]
    if not missing:
        return
    known = [str(r["node"]) for r in engine.rows(s.select("node").distinct()) if r["node"] is not None]
    if query.node == EVENT_NODE:
        from percorso.events.types import EVENT_TYPES

        known = sorted(set(known) | set(EVENT_TYPES))
    hints = "; ".join(f"'{x}': {suggest(x, known, limit=_SHOWN_LABELS)}" for x in missing)
    raise error(f"{what} matches no touchpoint with --node {query.node}: {hints}")


def absent_types_note(engine: Engine, query: JourneyQuery, labels: Iterable[str]) -> str | None:
    """A note naming the event types among ``labels`` that no touchpoint of the data has, with the
    labels the data does have, or None.

    Why: :func:`require_labels` lets such a type pass (a true zero: no receipt yet), but on a
    clickstream that calls its add-to-cart ``cart``, ``funnel catalog add_to_cart purchase``
    printed "86,600 dropped at add_to_cart", which reads as a measured drop-off. The zero stays;
    the note says it measures nothing.
    """
    from percorso.events.types import EVENT_TYPES

    types = sorted({x for x in labels if x in EVENT_TYPES})
    if not types or not _vocabulary_node(query):
        return None
    t = engine.table("touchpoints")
    t = t.filter(t.customer_id.notnull() & ~t.event_type.isin(ADMIN_EVENT_TYPES))
    found = {r["event_type"] for r in engine.rows(t.filter(t.event_type.isin(types)).select("event_type").distinct())}
    missing = [x for x in types if x not in found]
    if not missing:
        return None
    known = [str(r["node"]) for r in engine.rows(t.select(node=_node_part(t, query.node)).distinct())
             if r["node"] is not None]
    return "; ".join(f"nessun evento {x} nei dati / no {x} touchpoint in the data, its zero measures nothing: "
                     f"{suggest(x, known, limit=_SHOWN_LABELS)}" for x in missing)


# the drill-down checks of every journey analysis, registered with the module all of them import
# (last: percorso.journeys.drill reads this module's names)
from percorso.journeys import drill as _drill  # noqa: E402,F401
