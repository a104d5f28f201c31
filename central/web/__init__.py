"""Central's web front end: the dashboard's static files (static/) and their vendored libraries."""
