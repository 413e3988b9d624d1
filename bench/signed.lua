-- wrk script for bench/run: sends one signed request per line of a file
-- that bench/run wrote beforehand, because wrk's Lua has no HMAC.
--
-- Usage: wrk ... -s bench/signed.lua URL -- FILE [statuses|LIMIT]
--
-- Each line of FILE is "<key> <user_id> <ts> <nonce> <sign>". The requests
-- are formatted once in init(), so that request() only returns a string.
-- When the lines run out, the script starts again from the first line and
-- counts the wrap. A gateway that checks nonces then replies 401, so
-- bench/run treats a wrap as a failed run for those gateways.
--
-- "statuses" adds a response() that counts each status code. wrk then
-- parses every response into a Lua table, which costs it CPU, so only the
-- check pass uses it. A number stops the thread after that many requests.
-- done() prints one line, "bench-result {...}", in JSON.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

local requests = {}
local next_index = 1
local sent = 0
local limit = nil

-- globals, because done() reads them from each thread with thread:get()
wraps = 0
statuses = {}

local function count_status(status)
    statuses[status] = (statuses[status] or 0) + 1
end

function init(args)
    -- the words after "--" on wrk's command line, from args[1] on
    local file = args[1]
    local option = args[2]

    for line in io.lines(file) do
        local key, user, ts, nonce, sign =
            line:match("^(%S+) (%S+) (%S+) (%S+) (%S+)$")

        if key then
            requests[#requests + 1] = wrk.format("GET", nil, {
                ["X-UBT-API-KEY"] = key,
                ["X-UBT-USER-ID"] = user,
                ["X-UBT-TS"] = ts,
                ["X-UBT-NONCE"] = nonce,
                ["X-UBT-SIGN"] = sign,
            })
        end
    end

    if #requests == 0 then
        error("no signed header lines in " .. tostring(file))
    end

    if option == "statuses" then
        response = count_status
    elseif option then
        limit = tonumber(option)
    end
end

function request()
    local r = requests[next_index]

    next_index = next_index + 1
    if next_index > #requests then
        next_index = 1
        wraps = wraps + 1
    end

    sent = sent + 1
    if limit and sent >= limit then
        wrk.thread:stop()
    end

    return r
end

function done(summary, latency, requests_stats)
    local wrapped = 0
    local counted = {}

    for _, thread in ipairs(threads) do
        wrapped = wrapped + (thread:get("wraps") or 0)

        for status, n in pairs(thread:get("statuses") or {}) do
            counted[status] = (counted[status] or 0) + n
        end
    end

    local parts = {}
    for status, n in pairs(counted) do
        parts[#parts + 1] = string.format('"%d":%d', status, n)
    end

    io.write(string.format(
        'bench-result {"requests":%d,"duration_us":%d,"non_2xx":%d,'
        .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,'
        .. '"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
        .. '"wraps":%d,"statuses":{%s}}\n',
        summary.requests, summary.duration, summary.errors.status,
        summary.errors.connect, summary.errors.read, summary.errors.write,
        summary.errors.timeout, latency:percentile(50),
        latency:percentile(99), latency.max, wrapped,
        table.concat(parts, ",")))
end
