"""`siaga demo`: the whole chain on one machine (agent → local Mosquitto → central).

It sits above every role and imports the agent and central; no role imports it, and the
foundation (`siaga/`) finds its command through the entry point `siaga.commands`."""
