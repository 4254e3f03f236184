-- GET a path (BENCH_PATH). With BENCH_BUST=1 every request adds a distinct startTimeAfter, so no
-- two requests share a cache entry (the uncached case).
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup

local path, bust, counter
statuses = {}

function init(args)
  path = os.getenv("BENCH_PATH")
  bust = os.getenv("BENCH_BUST") == "1"
  counter = 0
end

function request()
  counter = counter + 1
  local target = path
  if bust then
    local separator = string.find(path, "?", 1, true) and "&" or "?"
    -- A distinct second in 2000-01-01..2031: a new cache key, the same result set.
    target = string.format("%s%sstartTimeAfter=%s", path, separator,
      os.date("!%Y-%m-%dT%H:%M:%SZ", 946684800 + thread_index * 50000000 + counter))
  end
  return wrk.format("GET", target)
end

function response(status, headers, body)
  common.count(statuses, tostring(status))
end

function done(summary, latency, requests)
  common.done(summary, latency, requests, { "statuses" })
end
