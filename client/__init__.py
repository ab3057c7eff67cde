"""A Python inspector client for actorscope and any RivetKit-compatible inspector (v1-v4)."""
