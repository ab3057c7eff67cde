"""actorscope: durable actors and workflows with a live RivetKit-compatible inspector."""

__all__ = ["__version__"]

__version__ = "0.1.0"
