-- One request class for wrk, driven by bench/load.py (python -m bench.load).
--
-- load.py writes a small wrapper per class that sets DATA_FILE and RESULT_FILE, then runs this file (and, for a
-- paced class, defines delay()). DATA_FILE returns {headers = {...}, requests = {{path, body}, ...}}; each wrk
-- thread cycles through the requests from its own offset. done() writes RESULT_FILE as JSON: wrk's summary, the
-- whole latency histogram (microseconds, so classes can be merged exactly) and, from response(), the count of
-- every status, X-Cache and X-Read-From value seen.

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local data = dofile(DATA_FILE)
  requests = {}
  for i, item in ipairs(data.requests) do
    requests[i] = wrk.format("POST", item[1], data.headers, item[2])
  end
  position = (thread_index * 7919) % #requests
  statuses = {}
  x_cache = {}
  read_from = {}
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  local cache = headers["X-Cache"] or "none"
  x_cache[cache] = (x_cache[cache] or 0) + 1
  local source = headers["X-Read-From"] or "none"
  read_from[source] = (read_from[source] or 0) + 1
end

local function add_counts(into, counts)
  for key, count in pairs(counts or {}) do
    into[key] = (into[key] or 0) + count
  end
end

local function json_object(counts)
  local parts = {}
  for key, count in pairs(counts) do
    table.insert(parts, string.format("%q:%d", key, count))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests_stats)
  local all_statuses, all_x_cache, all_read_from = {}, {}, {}
  for _, thread in ipairs(threads) do
    add_counts(all_statuses, thread:get("statuses"))
    add_counts(all_x_cache, thread:get("x_cache"))
    add_counts(all_read_from, thread:get("read_from"))
  end
  local histogram = {}
  for i = 1, #latency do
    local value, count = latency(i)
    table.insert(histogram, string.format("[%d,%d]", value, count))
  end
  local errors = summary.errors
  local out = assert(io.open(RESULT_FILE, "w"))
  out:write(string.format(
    '{"duration_us":%d,"requests":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d},"statuses":%s,"x_cache":%s,"read_from":%s,"latency_us":[%s]}\n',
    summary.duration, summary.requests, summary.bytes, errors.connect, errors.read, errors.write, errors.status,
    errors.timeout, json_object(all_statuses), json_object(all_x_cache), json_object(all_read_from),
    table.concat(histogram, ",")))
  out:close()
end
