-- wrk script of `python -m bench`: POST one canned HEC body, count the replies by status.
-- Arguments (after --): BODY_FILE TOKEN CONTENT_TYPE [CONTENT_ENCODING]
-- done() prints one line "BENCH_RESULT {json}" that bench/wrk_load.py reads.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
  wrk.headers["Authorization"] = "Splunk " .. args[2]
  wrk.headers["Content-Type"] = args[3]
  if args[4] ~= nil and args[4] ~= "" then
    wrk.headers["Content-Encoding"] = args[4]
  end
  statuses = {}
  bad_bodies = 0
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and not string.find(body, '"code":0', 1, true) then
    bad_bodies = bad_bodies + 1
  end
end

function done(summary, latency, requests)
  local merged, bad = {}, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + count
    end
    bad = bad + thread:get("bad_bodies")
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, string.format('"%d":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,"statuses":{%s},"bad_bodies":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.duration, summary.requests, summary.bytes, table.concat(parts, ","), bad,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
