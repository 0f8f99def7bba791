"""The HTTP edge: every `/api/` endpoint and the probes, one module per resource, each exporting `routes`.

Resources: `login` (login, logout, me), `users`, `areas`, `bags`, `bills`, `billedit`, `corrections`,
`returns`, `scans`, `audit`, `imports`, `exports`, `walltokens`, `devices`, `health`, `metrics`, `openapi` (the
document built from the endpoints' docstrings).
What guards and shapes every request: `security` (origin, body size, headers), `apilimit` (requests
per address), `errors` (the JSON error answer), `params` (reading bodies and ids), `access` (roles).

Handlers read the request, call the logic outside this package (SQL in `hub.store`, rules in
`hub.domain`, accounts and sessions in `hub.accounts` and `hub.auth`) and answer JSON.
"""
