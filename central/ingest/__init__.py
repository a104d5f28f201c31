"""Ingest: the collector's MQTT client and packet codec, message checks, batching into the store,
salvage of undecodable payloads, plausibility quarantine and end-to-end confirmation to agents."""
