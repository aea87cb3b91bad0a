-- wrk script of `python bench/stream_ext_bench.py commits --wrk`: POST position commits,
-- spread over 64 consumer groups, and count the replies by status.
-- Arguments (after --): TOKEN
-- done() prints one line "BENCH_RESULT {json}".

local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.body = '{"partition": 0, "offset": 0}'
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  statuses = {}
end

function request()
  counter = counter + 1
  return wrk.format(nil, "/api/v1/stream-groups/bench-" .. (counter % 64) .. "/commit")
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local ok, other = 0, 0
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for status, count in pairs(s) do
      if status == 200 then ok = ok + count else other = other + count end
    end
  end
  io.write(string.format(
    'BENCH_RESULT {"ok": %d, "errors": %d, "seconds": %.3f, "p50_ms": %.2f, "p99_ms": %.2f}\n',
    ok, other, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
