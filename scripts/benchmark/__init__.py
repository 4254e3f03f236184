"""The flash-sale and throughput benchmark behind `scripts/bench`; everything goes through Envoy.

Phases: (1) the stack's own ceiling — gRPC health checks through Envoy (h2load) and a trivial REST
GET (wrk); (2) steady booking — distinct users booking one seat each on a very large event over REST
with JWTs (wrk + Lua); (3) event lists, with and without filters, cached and uncached; (4) a flash
sale — thousands of buyers at once for a few hundred seats, over gRPC through Envoy; (5) the RSS of
every process. After each booking phase the seat invariant is checked in the databases:
seats_taken == sum(seats of CONFIRMED + AWAITING_APPROVAL bookings) <= capacity.

Users are seeded as real verified accounts (one bulk insert into the users database) with access
tokens minted by the mesh's own signing key, so seeding takes seconds, not an hour of Argon2.
Without wrk/h2load (Debian packages) a slower Python load generator stands in and the report says so.

Modules: `model` (configuration, the target, results), `seeding` (accounts, events, the seat
invariant), `load` (wrk, h2load and the Python fallback), `phases` (what is measured), `report`
(the Markdown table), `__main__` (the command line).
"""
