"""The demo: a realistic Italian omnichannel retailer, imported, built and checked. See :func:`run_demo`."""

from percorso.demo.run import DemoReport, run_demo

__all__ = ["DemoReport", "run_demo"]
