-- wrk script for the turnpike benchmarks (wrk 4.x with LuaJIT).
--   wrk ... -s bench/lib/load.lua <url> -- <expect> <auth|-> <creds-file|-> <start> <count> <delay-ms> <stop-after>
-- expect      status that counts as success (200, or 402 on the challenge path)
-- auth        a fixed Authorization value sent on every request, or "-"
-- creds-file  one Authorization value per line; lines start+1 .. start+count are each sent once
-- delay-ms    mean pause per connection between requests (paced latency runs, exponential), 0 = closed loop
-- stop-after  stop once this many responses arrived (credentials about to run out), 0 = never
-- Prints one line "RESULT {json}" at the end.
local ffi = require("ffi")
ffi.cdef [[ int kill(int pid, int sig); int getpid(void); ]]

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

expect = 200
ok = 0
other = 0
statuses = {}
local limit = 0
local stopped = false

function init(args)
  expect = tonumber(args[1]) or 200
  local auth = args[2] or "-"
  local file = args[3] or "-"
  local start = tonumber(args[4]) or 0
  local count = tonumber(args[5]) or 0
  local pause = tonumber(args[6]) or 0
  limit = tonumber(args[7]) or 0
  if auth ~= "-" then wrk.headers["Authorization"] = auth end
  if file ~= "-" then
    local creds = {}
    local n = 0
    for line in io.lines(file) do
      n = n + 1
      if n > start + count then break end
      if n > start then creds[#creds + 1] = line end
    end
    local i = 0
    local h = { Authorization = "" }
    request = function()
      i = i + 1
      h["Authorization"] = creds[i] or creds[#creds]
      return wrk.format(nil, nil, h)
    end
  end
  if pause > 0 then
    -- Exponential pauses (mean `pause`, capped at 5x), so the connections do not stay in step:
    -- a fixed pause makes all of them fire together every `pause` ms, and every burst then queues
    -- behind itself, which measures burst size times service time rather than added latency.
    math.randomseed(os.time() + ffi.C.getpid())
    delay = function()
      local d = -pause * math.log(1 - math.random())
      if d > 5 * pause then d = 5 * pause end
      return math.floor(d)
    end
  end
end

function response(status, headers, body)
  if status == expect then ok = ok + 1 else other = other + 1 end
  statuses[status] = (statuses[status] or 0) + 1
  if limit > 0 and not stopped and ok + other >= limit then
    stopped = true
    wrk.thread:stop()
    -- Interrupts the main thread's sleep, so wrk reports the real elapsed time.
    ffi.C.kill(ffi.C.getpid(), 2)
  end
end

function done(summary, latency, requests)
  local okAll, otherAll, st = 0, 0, {}
  for _, t in ipairs(threads) do
    okAll = okAll + (t:get("ok") or 0)
    otherAll = otherAll + (t:get("other") or 0)
    local s = t:get("statuses") or {}
    for k, v in pairs(s) do st[tostring(k)] = (st[tostring(k)] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(st) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"ok":%d,"unexpected":%d,"durationUs":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"statuses":{%s},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, okAll, otherAll, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, table.concat(parts, ","),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
