"""The BARE schema files (data only); loaded with importlib.resources by actorscope.protocol."""
