"""detectors: pure computation (scoring, classification, fusion) over arrays and records; no Kafka, no I/O, no clock of its own."""
