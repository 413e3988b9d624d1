-- Store a newly issued key as the user's key. The previous key, if any,
-- moves to the revoked set; with a grace period it keeps working until the
-- period ends. Every issuance is written to the user's audit stream.
--
-- KEYS[1]  user record (hash)
-- KEYS[2]  digests of the user's earlier keys (sorted set)
-- KEYS[3]  the user's audit trail (stream)
-- ARGV[1]  SHA-256 of the new key, hex
-- ARGV[2]  issued_id
-- ARGV[3]  key environment: live or test
-- ARGV[4]  plan, or "" to keep the user's plan
-- ARGV[5]  default plan for a new user
-- ARGV[6]  how many revoked digests to remember
-- ARGV[7]  grace period of the previous key, ms (0: none)
-- ARGV[8]  user id, for the audit entry
-- ARGV[9]  actor, for the audit entry
-- ARGV[10] maximum length of the audit stream
--
-- Returns {plan, status, the audit entry as field, value…}.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local old = redis.call('HMGET', KEYS[1], 'digest', 'issued_id', 'plan',
                       'status')
local action = 'issue'
local reason = ''

if old[1] and old[1] ~= ARGV[1] then
    action = 'rotate'

    redis.call('ZADD', KEYS[2], now, old[1])
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[6]) + 1))

    local grace = tonumber(ARGV[7])

    if grace > 0 then
        redis.call('HSET', KEYS[1], 'prev_digest', old[1],
                   'prev_issued_id', old[2] or '',
                   'prev_expires', now + grace)
        reason = 'grace ' .. math.floor(grace / 1000) .. 's'
    else
        redis.call('HDEL', KEYS[1], 'prev_digest', 'prev_issued_id',
                   'prev_expires')
    end
end

local plan = ARGV[4]
if plan == '' then
    plan = old[3] or ARGV[5]
end

-- a new key reconnects a disconnected user, but a ban outlives it
local status = old[4]
if status ~= 'BANNED' then
    status = 'CONNECTED'
    redis.call('HDEL', KEYS[1], 'status_reason')
end

redis.call('HSET', KEYS[1],
           'digest', ARGV[1], 'issued_id', ARGV[2], 'env', ARGV[3],
           'plan', plan, 'status', status, 'issued_at', now)
redis.call('HSETNX', KEYS[1], 'created_at', now)

local entry = {'time', tostring(now), 'action', action, 'user_id', ARGV[8],
               'issued_id', ARGV[2], 'actor', ARGV[9], 'reason', reason}

redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[10], '*', unpack(entry))

return {plan, status, unpack(entry)}
