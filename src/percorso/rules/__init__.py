"""Packaged default rule tables (CSV), copied into a project's ``rules/`` by ``percorso init``."""
