"""The analysis contract shared by journeys, attribution and value: Query → Runner → Result."""

from percorso.analysis.base import AnalysisQuery, AnalysisResult, Runner, runner_for, run

__all__ = ["AnalysisQuery", "AnalysisResult", "Runner", "runner_for", "run"]
