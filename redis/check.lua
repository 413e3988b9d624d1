-- Admit one signed request of a user whose signature the gateway has
-- already verified. Every key is in the user's {u:<id>} hash slot.
--
-- KEYS[1]  user record (hash)
-- KEYS[2]  digests of the user's earlier keys (sorted set)
-- KEYS[3]  the request's nonce (string, expires)
-- ARGV[1]  SHA-256 of the presented key, hex
-- ARGV[2]  nonce lifetime, ms
-- ARGV[3]  minimum interval between last_seen writes, ms
-- ARGV[4…] telemetry from request headers: field, value, field, value…
--
-- Returns {"OK", plan, issued_id, key_env, limit} or {reason}.

local rec = redis.call('HMGET', KEYS[1],
                       'digest', 'status', 'plan', 'issued_id', 'env',
                       'last_seen', 'limit', 'prev_digest', 'prev_issued_id',
                       'prev_expires')

-- Redis time, so that gateways with different clocks agree
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local issued_id = rec[4]

if rec[1] ~= ARGV[1] then
    -- a rotated key keeps working until its grace period ends
    if rec[8] == ARGV[1] and now < (tonumber(rec[10]) or 0) then
        issued_id = rec[9]
    elseif redis.call('ZSCORE', KEYS[2], ARGV[1]) then
        return {'REVOKED_KEY'}
    else
        return {'UNKNOWN_KEY'}
    end
end

-- fail closed: any status but CONNECTED, a missing one included, rejects
if rec[2] ~= 'CONNECTED' then
    if rec[2] == 'BANNED' then
        return {'BANNED'}
    end
    return {'DISCONNECTED'}
end

-- the nonce is spent only by a request that passed every check above
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then
    return {'REPLAYED_NONCE'}
end

-- last_seen and telemetry are written at most once per interval, so most
-- requests cost no hash write
local seen = tonumber(rec[6])

if not seen or now - seen >= tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'last_seen', now, unpack(ARGV, 4))
end

return {'OK', rec[3] or '', issued_id or '', rec[5] or '', rec[7] or ''}
