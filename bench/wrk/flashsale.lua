-- wrk script for the benchmark scripts in bench/.
--
--   wrk -s bench/wrk/flashsale.lua URL -- order TOKENS_FILE SALE_ID ITEM_ID THREADS
--       POST /flash-sales/SALE_ID/orders {"item_id":ITEM_ID,"quantity":1}, each
--       request with the next user's token: thread t of THREADS sends tokens
--       t, t+THREADS, t+2*THREADS, ... so that every token is used once before
--       any is used twice.
--   wrk -s bench/wrk/flashsale.lua URL -- get SALE_ID
--       GET /flash-sales/SALE_ID (the sale page).
--
-- At the end it prints one machine-readable line:
--   RESULT requests=N duration_s=S rps=R p50_ms=.. p90_ms=.. p99_ms=.. p999_ms=.. max_ms=.. non2xx3xx=N errors=N

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local mode, path, body
local headers = {}
-- requests holds this thread's requests, formatted once in init so that
-- sending one costs the client as little as possible.
local requests = {}

function init(args)
  mode = args[1]
  if mode == "order" then
    path = "/flash-sales/" .. args[3] .. "/orders"
    body = '{"item_id":"' .. args[4] .. '","quantity":1}'
    local nthreads = tonumber(args[5]) or 1
    headers["Content-Type"] = "application/json"
    headers["Accept"] = "application/json"
    local f = assert(io.open(args[2], "r"))
    local n = 0
    for line in f:lines() do
      if #line > 0 then
        n = n + 1
        if (n - 1) % nthreads == id - 1 then
          headers["Authorization"] = "Bearer " .. line
          requests[#requests + 1] = wrk.format("POST", path, headers, body)
        end
      end
    end
    f:close()
    assert(#requests > 0, "no tokens for thread " .. id .. " in " .. args[2])
  elseif mode == "get" then
    path = "/flash-sales/" .. args[2]
    headers["Accept"] = "application/json"
    requests[1] = wrk.format("GET", path, headers)
  else
    error("mode must be order or get")
  end
end

function request()
  counter = counter + 1
  if counter > #requests then counter = 1 end
  return requests[counter]
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f non2xx3xx=%d errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, summary.errors.status, errors))
end
