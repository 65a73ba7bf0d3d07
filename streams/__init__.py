"""streams: the Faust app, the topic catalog, every message schema, ingest and validation, the embedded broker, the simulator and the replay / produce / tail tools."""
