"""percorso: omnichannel customer-journey analytics and activation.

The public Python API lives here. Open a project with :func:`open_project` and run
analyses against it; see the README for a tour.
"""

from percorso.errors import PercorsoError
from percorso.project import Project, open_project

__all__ = ["PercorsoError", "Project", "open_project", "__version__"]
__version__ = "0.1.0"
