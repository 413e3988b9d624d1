-- Admit one signed request of a user whose signature the gateway has
-- already verified. Every key is in the user's {u:<id>} hash slot.
--
-- KEYS[1]  user record (hash)
-- KEYS[2]  digests of the user's earlier keys (sorted set)
-- KEYS[3]  the request's nonce (string, expires)
-- KEYS[4]  the user's rate limit state (string, expires)
-- ARGV[1]  SHA-256 of the presented key, hex
-- ARGV[2]  nonce lifetime, ms
-- ARGV[3]  minimum interval between last_seen writes, ms
-- ARGV[4]  the plan of a user who has none
-- ARGV[5]  P, the number of plans that follow
-- ARGV[6…] P pairs: plan name, "<count> <period ms> <burst>" or "unlimited"
-- ARGV[…]  telemetry from request headers: field, value, field, value…
--
-- Returns one string of fields separated by "\n", because one string costs
-- Redis and the gateway less than an array. An accepted request gets "OK",
-- plan, issued_id, key_env, limit, rate limit, remaining, reset ms and
-- window ms, with "" for the last four when no limit applies. A limited one
-- gets "RATE_LIMIT", rate limit, retry after ms, reset ms, window ms and
-- plan, and any other rejection the reason alone. The rate limit is the burst,
-- the window the time in which a whole burst is refilled. No field can
-- contain "\n": the module and the admin API accept none in plans, limits
-- or ids.

local rec = redis.call('HMGET', KEYS[1],
                       'digest', 'status', 'plan', 'issued_id', 'env',
                       'last_seen', 'limit')

-- Redis time, so that gateways with different clocks agree; microseconds
-- since the epoch stay below 2^53, where doubles hold integers exactly
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = math.floor(now_us / 1000)

local issued_id = rec[4]

if rec[1] ~= ARGV[1] then
    -- a rotated key keeps working until its grace period ends. Its fields
    -- are read only here, because each field read costs every request.
    local prev = redis.call('HMGET', KEYS[1], 'prev_digest', 'prev_issued_id',
                            'prev_expires')

    if prev[1] == ARGV[1] and now < (tonumber(prev[3]) or 0) then
        issued_id = prev[2]
    elseif redis.call('ZSCORE', KEYS[2], ARGV[1]) then
        return 'REVOKED_KEY'
    else
        return 'UNKNOWN_KEY'
    end
end

-- fail closed: any status but CONNECTED, a missing one included, rejects
if rec[2] ~= 'CONNECTED' then
    if rec[2] == 'BANNED' then
        return 'BANNED'
    end
    return 'DISCONNECTED'
end

-- the nonce is spent only by a request that passed every check above
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then
    return 'REPLAYED_NONCE'
end

-- the rate: the user's override wins over the plan's
local plans = tonumber(ARGV[5])
local plan = rec[3] or ARGV[4]
local spec = rec[7]

if not spec and plans > 0 then
    local default

    for i = 6, 5 + 2 * plans, 2 do
        if ARGV[i] == plan then
            spec = ARGV[i + 1]
        end
        if ARGV[i] == ARGV[4] then
            default = ARGV[i + 1]
        end
    end

    -- a plan that nginx.conf no longer defines gets the default plan's rate
    spec = spec or default
end

local count, period, burst

if spec and spec ~= 'unlimited' then
    count, period, burst = string.match(spec, '^(%d+) (%d+) (%d+)$')

    if not count then
        local unit
        count, unit = string.match(spec, '^(%d+) ?r/([smhd])$')
        period = ({s = 1000, m = 60000, h = 3600000, d = 86400000})[unit]
        burst = count
    end

    count, period, burst = tonumber(count), tonumber(period), tonumber(burst)
end

local limit, remaining, reset, window = '', '', '', ''

if count and count > 0 and period and burst and burst > 0 then
    local interval = period * 1000 / count
    local capacity = burst * interval

    -- the state ends with the spec it was counted under, so a new plan,
    -- override or plan definition starts from a fresh state. The spec is
    -- compared in place because every string Lua makes costs Redis time.
    local state = redis.call('GET', KEYS[4])
    local tat

    if state then
        local space = string.find(state, ' ', 1, true)

        if space and #state - space == #spec
           and string.find(state, spec, space + 1, true)
        then
            tat = tonumber(string.sub(state, 1, space - 1))
        end
    end

    if not tat or tat < now_us then
        tat = now_us
    end

    local new_tat = tat + interval

    if new_tat - now_us > capacity + 0.5 then
        -- rejected requests consume nothing
        local retry = math.ceil((new_tat - capacity - now_us) / 1000)
        local full = math.ceil((tat - now_us) / 1000)
        return 'RATE_LIMIT\n' .. burst .. '\n' .. math.max(retry, 1) .. '\n'
               .. full .. '\n' .. math.ceil(capacity / 1000) .. '\n'
               .. (rec[3] or '')
    end

    local ttl = math.ceil((new_tat - now_us) / 1000)
    redis.call('SET', KEYS[4], string.format('%.0f %s', new_tat, spec),
               'PX', math.max(ttl, 1))

    limit = burst
    remaining = math.floor((capacity - (new_tat - now_us)) / interval
                           + 0.000001)
    reset = ttl
    window = math.ceil(capacity / 1000)
end

-- last_seen and telemetry are written by every request, or at most once
-- per interval when one is set, so that a busy user costs fewer writes
local seen = tonumber(rec[6])

if not seen or now - seen >= tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'last_seen', now,
               unpack(ARGV, 6 + 2 * plans))
end

return 'OK\n' .. (rec[3] or '') .. '\n' .. (issued_id or '') .. '\n'
       .. (rec[5] or '') .. '\n' .. (rec[7] or '') .. '\n' .. limit .. '\n'
       .. remaining .. '\n' .. reset .. '\n' .. window
