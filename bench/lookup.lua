-- wrk script for POST /v1/lookups.
-- Arguments (after --): workload file, mean pause in ms (0: closed loop), flagged share.
-- The workload file holds "T <token>", "F <flagged NHS number>", "U <unflagged>" lines.
-- With a mean pause, every connection waits an exponentially distributed time before each
-- request, so arrivals are independent (Poisson-like) instead of lockstep bursts.

local tokens, flagged, unflagged = {}, {}, {}
local mean_pause, flagged_share = 0, 0.5
local settings = { "emergency-department", "urgent-treatment-centre", "minor-injury-unit",
                   "walk-in-centre", "gp-out-of-hours", "ambulance" }
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  for line in io.lines(args[1]) do
    local kind, value = line:sub(1, 1), line:sub(3)
    if kind == "T" then tokens[#tokens + 1] = value
    elseif kind == "F" then flagged[#flagged + 1] = value
    elseif kind == "U" then unflagged[#unflagged + 1] = value end
  end
  mean_pause = tonumber(args[2]) or 0
  flagged_share = tonumber(args[3]) or 0.5
  math.randomseed(os.time() * 1000 + (id or 0))
end

function delay()
  if mean_pause <= 0 then return 0 end
  return -mean_pause * math.log(1 - math.random())
end

-- Tokens in turn, not at random: every clinician signs in within the first #tokens
-- requests, so a warm-up that long leaves no token unverified in a measured run.
local sent = 0

function request()
  local pool = (math.random() < flagged_share) and flagged or unflagged
  local body = '{"nhs_number":"' .. pool[math.random(#pool)] .. '","care_setting":"'
               .. settings[math.random(#settings)] .. '"}'
  sent = sent + 1
  return wrk.format("POST", "/v1/lookups", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(sent % #tokens) + 1],
  }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"errors":%d,"status_errors":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
