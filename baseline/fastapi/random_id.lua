-- wrk script: GET /users/{id} with a random id in 1..10000, the bench's `get` workload.
-- Usage: wrk -t1 -c64 -d10s -s baseline/fastapi/random_id.lua http://127.0.0.1:3001
-- MAX_ID in the environment changes the range (the table must hold users 1..MAX_ID).
local max_id = tonumber(os.getenv("MAX_ID") or "10000")
local threads = 0

-- Runs once per thread, in the main Lua state: number the threads.
function setup(thread)
   threads = threads + 1
   thread:set("id", threads)
end

-- Runs in each thread's own Lua state: seed each thread differently.
function init(args)
   math.randomseed(os.time() * 100 + (id or 0))
end

function request()
   return wrk.format("GET", "/users/" .. math.random(1, max_id))
end
