-- Admit one signed request of a user whose signature the gateway has
-- already verified. Every key is in the user's {u:<id>} hash slot.
--
-- KEYS[1]  user record (hash)
-- KEYS[2]  digests of the user's earlier keys (sorted set)
-- KEYS[3]  the request's nonce (string, expires)
-- ARGV[1]  SHA-256 of the presented key, hex
-- ARGV[2]  nonce lifetime, ms
-- ARGV[3]  gateway time, ms since the epoch
-- ARGV[4]  minimum interval between last_seen writes, ms
--
-- Returns {"OK", plan, issued_id, key_env} or {reason}.

local rec = redis.call('HMGET', KEYS[1],
                       'digest', 'status', 'plan', 'issued_id', 'env',
                       'last_seen')

if rec[1] ~= ARGV[1] then
    if rec[1] and redis.call('ZSCORE', KEYS[2], ARGV[1]) then
        return {'REVOKED_KEY'}
    end
    return {'UNKNOWN_KEY'}
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

-- last_seen is written at most once per interval to keep the hot path
-- free of a hash write on most requests
local now = tonumber(ARGV[3])
local seen = tonumber(rec[6])
if not seen or now - seen >= tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[1], 'last_seen', ARGV[3])
end

return {'OK', rec[3] or '', rec[4] or '', rec[5] or ''}
