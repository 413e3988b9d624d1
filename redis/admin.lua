-- Apply an operator's action to an existing user and write it to the
-- user's audit stream.
--
-- KEYS[1]  user record (hash)
-- KEYS[2]  digests of the user's earlier keys (sorted set)
-- KEYS[3]  the user's audit trail (stream)
-- KEYS[4]  the user's rate limit state (string)
-- ARGV[1]  action: revoke, disconnect, ban, reconnect, plan, limit or
--          limit_clear
-- ARGV[2]  the new plan or limit, or "" for the other actions
-- ARGV[3]  user id, for the audit entry
-- ARGV[4]  actor, for the audit entry
-- ARGV[5]  reason given by the operator, or ""
-- ARGV[6]  maximum length of the audit stream
-- ARGV[7]  how many revoked digests to remember
--
-- Returns {"NOT_FOUND"} or {"OK", the audit entry as field, value…}.

if redis.call('EXISTS', KEYS[1]) == 0 then
    return {'NOT_FOUND'}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local action = ARGV[1]
local reason = ARGV[5]
local rec = redis.call('HMGET', KEYS[1], 'digest', 'issued_id',
                       'prev_digest')

if action == 'revoke' then
    for _, digest in ipairs({rec[1], rec[3]}) do
        if digest then
            redis.call('ZADD', KEYS[2], now, digest)
        end
    end

    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[7]) + 1))
    redis.call('HDEL', KEYS[1], 'digest', 'prev_digest', 'prev_issued_id',
               'prev_expires')

elseif action == 'disconnect' or action == 'ban' then
    if reason == '' then
        reason = 'OPERATOR'
    end

    redis.call('HSET', KEYS[1],
               'status', action == 'ban' and 'BANNED' or 'DISCONNECTED',
               'status_reason', reason)

elseif action == 'reconnect' then
    redis.call('HSET', KEYS[1], 'status', 'CONNECTED')
    redis.call('HDEL', KEYS[1], 'status_reason')

elseif action == 'plan' then
    redis.call('HSET', KEYS[1], 'plan', ARGV[2])
    redis.call('DEL', KEYS[4])
    reason = ARGV[2]

elseif action == 'limit' then
    redis.call('HSET', KEYS[1], 'limit', ARGV[2])
    redis.call('DEL', KEYS[4])
    reason = ARGV[2]

elseif action == 'limit_clear' then
    redis.call('HDEL', KEYS[1], 'limit')
    redis.call('DEL', KEYS[4])

else
    return redis.error_reply('unknown action ' .. action)
end

local entry = {'time', tostring(now), 'action', action, 'user_id', ARGV[3],
               'issued_id', rec[2] or '', 'actor', ARGV[4],
               'reason', reason}

redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', unpack(entry))

return {'OK', unpack(entry)}
