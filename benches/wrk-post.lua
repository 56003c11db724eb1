-- wrk script: POST a JSON (or SOAP) body. With IDS_FILE set, each request uses
-- the next ID of that file in place of {ID} (the cache-miss path).
local body_template = os.getenv("BODY") or "{}"
local ids = {}
local ids_file = os.getenv("IDS_FILE")
if ids_file then
  for line in io.lines(ids_file) do ids[#ids + 1] = line end
end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
if os.getenv("TOKEN") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN") end
if os.getenv("SOAP_ACTION") then wrk.headers["SOAPAction"] = os.getenv("SOAP_ACTION") end

request = function()
  local body = body_template
  if #ids > 0 then
    counter = counter + 1
    body = string.gsub(body_template, "{ID}", ids[(counter % #ids) + 1])
  end
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
