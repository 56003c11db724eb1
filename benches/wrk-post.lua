-- wrk script for the benchmarks. Environment:
--   BODY          request body; {ID}, {N} and {UUID} are replaced per request
--   REQ_PATH      request path (default: the URL's); {ID} and {N} replaced too
--   METHOD        default POST
--   IDS_FILE      one key per line; request N uses line N ({ID}) — the cache-miss path
--   TOKEN         bearer token;  IDEMPOTENCY  set: a unique Idempotency-Key per request
--   CONTENT_TYPE, SOAP_ACTION
local body_template = os.getenv("BODY") or "{}"
local path_template = os.getenv("REQ_PATH")
local ids = {}
local ids_file = os.getenv("IDS_FILE")
if ids_file then
  for line in io.lines(ids_file) do ids[#ids + 1] = line end
end
local counter = 0
local run_id = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
wrk.method = os.getenv("METHOD") or "POST"
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
if os.getenv("TOKEN") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN") end
if os.getenv("SOAP_ACTION") then wrk.headers["SOAPAction"] = os.getenv("SOAP_ACTION") end
local idempotency = os.getenv("IDEMPOTENCY")

math.randomseed(os.time())
local run_hi = math.random(0, 0x7fffffff)
-- A fresh UUID-shaped key per request (the SMSC requires client_ref to be a UUID).
local function uuid_for(counter)
  return string.format("%08x-%04x-4%03x-8%03x-%012x", run_hi, math.random(0, 0xffff), math.random(0, 0xfff),
    math.random(0, 0xfff), counter)
end

local function fill(s, id, n, u)
  s = string.gsub(s, "{ID}", id)
  s = string.gsub(s, "{UUID}", u)
  return (string.gsub(s, "{N}", n))
end

request = function()
  counter = counter + 1
  local id = ""
  if #ids > 0 then id = ids[(counter % #ids) + 1] end
  local n = run_id .. "-" .. tostring(counter)
  local u = uuid_for(counter)
  local headers = nil
  if idempotency then
    headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Idempotency-Key"] = n
  end
  local path = nil
  if path_template then path = fill(path_template, id, n, u) end
  local body = nil
  if wrk.method ~= "GET" then body = fill(body_template, id, n, u) end
  return wrk.format(nil, path, headers, body)
end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors, summary.requests))
end
