-- wrk: POST /api/v1/bookings with a real session (one per thread, as in
-- bearer.lua); every request creates a draft booking for one client.
local tokens = {}
for t in string.gmatch(os.getenv("TMS_LOAD_TOKENS") or "", "%S+") do
  tokens[#tokens + 1] = t
end
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("token", tokens[(counter - 1) % #tokens + 1])
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = os.getenv("TMS_LOAD_BOOKING")
end
