"""Journey analytics: stages, journey map, paths, funnels, friction, omnichannel (issue 3).

The package itself imports nothing: the build reads :mod:`percorso.journeys.stages` alone, and a
package that loaded the analyses (their base, controls and drill-down checks) put ~8 ms into every
full build. The drill-down checks are registered by :mod:`percorso.journeys.controls`, which
every journey analysis imports.
"""
