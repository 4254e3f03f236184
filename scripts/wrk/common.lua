-- Shared by the wrk scripts of scripts/bench: per-thread counters collected in done() and printed
-- as one JSON line ("BENCH_JSON {...}") that scripts/benchmark/load.py reads.
local M = {}

local threads = {}
local next_thread = 0

function M.setup(thread)
  thread:set("thread_index", next_thread)
  thread:set("thread_count", tonumber(os.getenv("BENCH_THREADS") or "1"))
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function M.count(bucket, key)
  bucket[key] = (bucket[key] or 0) + 1
end

local function encode(value)
  if type(value) == "table" then
    local parts = {}
    for key, item in pairs(value) do
      table.insert(parts, string.format("%q:%s", tostring(key), encode(item)))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(value) == "string" then
    return string.format("%q", value)
  end
  return tostring(value)
end

function M.done(summary, latency, requests, fields)
  local totals = {}
  for _, thread in ipairs(threads) do
    for _, field in ipairs(fields) do
      local counts = thread:get(field) or {}
      totals[field] = totals[field] or {}
      for key, value in pairs(counts) do
        totals[field][key] = (totals[field][key] or 0) + value
      end
    end
  end
  totals.requests = summary.requests
  totals.duration_us = summary.duration
  totals.errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  totals.non_2xx = summary.errors.status
  totals.p50_us = latency:percentile(50)
  totals.p99_us = latency:percentile(99)
  totals.max_us = latency.max
  io.write("BENCH_JSON " .. encode(totals) .. "\n")
end

-- Lines of a file, the i-th of every n (so threads share a file without overlap).
function M.slice(path, index, count)
  local lines = {}
  local line_number = 0
  for line in io.lines(path) do
    if line_number % count == index then
      table.insert(lines, line)
    end
    line_number = line_number + 1
  end
  return lines
end

return M
