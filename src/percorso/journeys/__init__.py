"""Journey analytics: stages, journey map, paths, funnels, friction, omnichannel (issue 3)."""

from percorso.journeys import drill as _drill  # noqa: E402,F401  (registers the drill-down checks)
