"""The public Python API in one place: ``from percorso.api import open_project, run, FunnelQuery``.

Why: the classes a notebook needs were spread over a dozen modules (``percorso.journeys.funnel``,
``percorso.value.rfm``…) with no index, so every example started with a hunt for import
paths. Everything here is the same object the CLI and the server use (one query definition,
every face): open a project, build a typed query, :func:`run` it, read the typed result
(``.to_frame()``, ``.figure()``, ``.customers(...)`` for the people behind a number).
The package root re-exports these names lazily (``import percorso; percorso.FunnelQuery``),
so ``import percorso`` stays light; the deeper module paths keep working.

Examples
--------
>>> from percorso.api import open_project, run, FunnelQuery          # doctest: +SKIP
>>> with open_project("demo") as project:                             # doctest: +SKIP
...     result = run(project.engine, FunnelQuery(steps=["page_view", "add_to_cart", "purchase"]))
...     result.to_frame()
"""

from __future__ import annotations

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner, run, runner_for
from percorso.journeys.overview import OverviewQuery, OverviewResult, OverviewRunner
from percorso.attribution.analysis import AttributionQuery, AttributionResult, AttributionRunner
from percorso.attribution.paths import PathTable, read_paths_file, write_paths_file
from percorso.attribution.roi import RoiQuery, RoiResult, RoiRunner
from percorso.build import BuildReport, run_build
from percorso.demo import DemoReport, run_demo
from percorso.engine import Engine
from percorso.errors import (
    AccessDenied, ConfigError, DatabaseDamaged, DatabaseLocked, EngineError, InputError, NotFound, PercorsoError,
    ProjectNotFound,
)
from percorso.generate import generate
from percorso.ingest import IngestReport, ingest_files
from percorso.journeys.controls import AnchoredQuery, JourneyQuery, resolve_steps
from percorso.journeys.friction import FrictionQuery, FrictionResult, FrictionRunner
from percorso.journeys.funnel import FunnelQuery, FunnelResult, FunnelRunner
from percorso.journeys.journey_map import JourneyMapQuery, JourneyMapResult, JourneyMapRunner
from percorso.journeys.omnichannel import OmnichannelQuery, OmnichannelResult, OmnichannelRunner
from percorso.journeys.paths import PathsQuery, PathsResult, PathsRunner
from percorso.journeys.sankey import SankeyQuery, SankeyResult, SankeyRunner
from percorso.journeys.transitions import TransitionsQuery, TransitionsResult, TransitionsRunner
from percorso.profile import CustomerProfile, customer_profile, find_customer
from percorso.profile.search import search_customers
from percorso.project import Project, init_project, open_project
from percorso.value.churn import ChurnQuery, ChurnResult, ChurnRunner
from percorso.value.clv.analysis import CLVQuery, CLVResult, CLVRunner, HoldoutQuery, HoldoutResult, HoldoutRunner
from percorso.value.clv.pipeline import fit_clv
from percorso.value.cohorts import CohortQuery, CohortResult, CohortRunner
from percorso.value.cost_to_serve import CostToServeQuery, CostToServeResult, CostToServeRunner
from percorso.value.health import HealthQuery, HealthResult, HealthRunner
from percorso.value.personas import PersonasQuery, PersonasResult, PersonasRunner
from percorso.value.rfm import RFMQuery, RFMResult, RFMRunner
from percorso.value.segments.analysis import SegmentQuery, SegmentResult, SegmentRunner
from percorso.value.segments.export import Requester, SegmentExport, export_segment
from percorso.value.segments.store import (
    delete_segment, list_segments, members, members_at, refresh_all, refresh_segment, save_segment,
)

__all__ = [
    # projects and the pipeline
    "Project", "open_project", "init_project", "Engine", "generate", "ingest_files", "IngestReport",
    "run_build", "BuildReport", "run_demo", "DemoReport",
    # every analysis: query -> runner -> result
    "run", "runner_for", "AnalysisQuery", "AnalysisResult", "Runner",
    "JourneyQuery", "AnchoredQuery", "resolve_steps",
    "PathsQuery", "PathsResult", "PathsRunner", "TransitionsQuery", "TransitionsResult", "TransitionsRunner",
    "SankeyQuery", "SankeyResult", "SankeyRunner", "FunnelQuery", "FunnelResult", "FunnelRunner",
    "FrictionQuery", "FrictionResult", "FrictionRunner", "JourneyMapQuery", "JourneyMapResult", "JourneyMapRunner",
    "OmnichannelQuery", "OmnichannelResult", "OmnichannelRunner", "OverviewQuery", "OverviewResult", "OverviewRunner",
    "AttributionQuery", "AttributionResult", "AttributionRunner", "RoiQuery", "RoiResult", "RoiRunner",
    "PathTable", "read_paths_file", "write_paths_file",
    "RFMQuery", "RFMResult", "RFMRunner", "CLVQuery", "CLVResult", "CLVRunner", "fit_clv",
    "HoldoutQuery", "HoldoutResult", "HoldoutRunner", "ChurnQuery", "ChurnResult", "ChurnRunner",
    "CohortQuery", "CohortResult", "CohortRunner", "HealthQuery", "HealthResult", "HealthRunner",
    "CostToServeQuery", "CostToServeResult", "CostToServeRunner", "PersonasQuery", "PersonasResult", "PersonasRunner",
    # segments
    "SegmentQuery", "SegmentResult", "SegmentRunner", "save_segment", "list_segments", "members", "members_at",
    "refresh_segment", "refresh_all", "delete_segment", "export_segment", "SegmentExport", "Requester",
    # the customer view
    "customer_profile", "CustomerProfile", "find_customer", "search_customers",
    # errors (every one carries a stable .code)
    "PercorsoError", "ConfigError", "ProjectNotFound", "InputError", "NotFound", "EngineError", "DatabaseLocked",
    "DatabaseDamaged",
    "AccessDenied",
]
