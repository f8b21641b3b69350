-- wrk script: PUT /v1/blobs with a distinct random 4 KiB body each time (a
-- random base per thread; the first 32 bytes carry the thread, a random
-- tag and a counter, so no two requests store the same blob).
--
--   wrk -t2 -c8 -d10s --latency -s bench/http_put.lua URL

local counter = 0
local base, tag
local n = 0

function setup(thread)
	thread:set("id", counter)
	counter = counter + 1
end

function init(args)
	local t = {}
	math.randomseed(os.time() * 1000 + (id or 0))
	for i = 1, 4096 do
		t[i] = string.char(math.random(0, 255))
	end
	base = table.concat(t)
	tag = math.random(0, 0x7fffffff)
end

function request()
	n = n + 1
	local head = string.format("%08x%08x%016x", id or 0, tag, n)
	return wrk.format("PUT", "/v1/blobs", nil, head .. base:sub(#head + 1))
end
