"""The simulator, a tool beside the service (imports central, never imported by it): `siaga
simulate agents` (cli.py) drives one paho client for many agents (agents.py) or one connection
per agent (fleet.py, over the asyncio MQTT client in mqtt.py); messages.py makes the windows and
the malformed payloads.
"""
