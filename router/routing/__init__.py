"""Which model serves a request: filters -> classifier estimate -> scorers -> picker.

Each stage is a small class behind one narrow, synchronous, I/O-free method
(``stages``); ``pipeline.RoutingPipeline`` alone orders them, and its ``Decision`` is a
value that headers, the decision log and ``switchboard route`` all render.
"""
