-- wrk script: GET /v1/blobs/{key}, cycling through the keys listed one a
-- line in the file given after `--`.  Each thread starts at a different
-- place in the list.
--
--   wrk -t2 -c64 -d10s --latency -s bench/http_keys.lua URL -- KEYS_FILE

local keys = {}
local i = 0
local counter = 0

function setup(thread)
	thread:set("id", counter)
	counter = counter + 1
end

function init(args)
	for line in io.lines(args[1]) do
		if line ~= "" then
			keys[#keys + 1] = "/v1/blobs/" .. line
		end
	end
	if #keys == 0 then
		error("no keys in " .. tostring(args[1]))
	end
	i = ((id or 0) * 7919) % #keys
end

function request()
	i = i % #keys + 1
	return wrk.format("GET", keys[i])
end
