"""Journey analytics: stages, journey map, paths, funnels, friction, omnichannel (issue 3)."""
