-- POST /v1/bookings, one seat, each request by a different user (a token per line in BENCH_TOKENS).
-- The benchmark mints more tokens than a run can use; should they run out, a user is reused and
-- the answer is ALREADY_BOOKED, which the report shows.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup

local tokens, position, event_id, run_id
states = {}
statuses = {}

function init(args)
  tokens = common.slice(os.getenv("BENCH_TOKENS"), thread_index, thread_count)
  position = 0
  event_id = os.getenv("BENCH_EVENT_ID")
  run_id = os.getenv("BENCH_RUN_ID") .. "-" .. thread_index
end

function request()
  position = position + 1
  local token = tokens[(position - 1) % #tokens + 1]
  return wrk.format(
    "POST",
    "/v1/bookings?requestId=" .. run_id .. "-" .. position,
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" },
    '{"eventId":"' .. event_id .. '","seats":1,"joinWaitlist":' .. (os.getenv("BENCH_WAITLIST") or "false") .. '}'
  )
end

function response(status, headers, body)
  common.count(statuses, tostring(status))
  local state = string.match(body, '"state":"([A-Z_]+)"')
  if state == nil then
    state = string.match(body, '"reason":"([A-Z_]+)"') or "UNKNOWN"
  end
  common.count(states, state)
end

function done(summary, latency, requests)
  common.done(summary, latency, requests, { "states", "statuses" })
end
