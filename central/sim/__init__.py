"""Parts of `siaga simulate agents`: message making, malformed payloads, the asyncio MQTT client
and the fleet mode (one connection and one set of credentials per simulated agent).

The public API stays in `central.simulate` (SimConfig, Simulation, SimResult, FleetConfig, ...).
"""
