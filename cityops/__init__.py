"""cityops: the thin command line that composes streams, detectors, dispatch and the dashboard."""
