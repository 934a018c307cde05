-- wrk: POST /api/v1/auth/login with the right password. The server is
-- started with 127.0.0.1 as a trusted proxy and each request claims its own
-- X-Forwarded-For address, as logins of many people behind a proxy: the
-- per-IP throttle (30 attempts in 10 minutes) would otherwise answer 429
-- after the 30th.
local n = 0

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = os.getenv("TMS_LOAD_LOGIN")
  n = math.random(0, 255) * 65536
end

function request()
  n = n + 1
  local ip = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  -- wrk.format replaces wrk.headers with the table given: repeat them.
  return wrk.format(nil, nil, { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip })
end
