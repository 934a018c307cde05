-- wrk: GET with a real session. Each wrk thread signs with its own session
-- (TMS_LOAD_TOKENS: space-separated bearer tokens from real logins).
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
  wrk.headers["Authorization"] = "Bearer " .. token
end
