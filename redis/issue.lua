-- Store a newly issued key as the user's only valid key. The previous key,
-- if any, stops working at once: its digest moves to the revoked set so
-- that later requests with it are told REVOKED_KEY instead of UNKNOWN_KEY.
--
-- KEYS[1]  user record (hash)
-- KEYS[2]  digests of the user's earlier keys (sorted set)
-- ARGV[1]  SHA-256 of the new key, hex
-- ARGV[2]  issued_id
-- ARGV[3]  key environment: live or test
-- ARGV[4]  plan, or "" to keep the user's plan
-- ARGV[5]  default plan for a new user
-- ARGV[6]  gateway time, ms since the epoch
-- ARGV[7]  how many revoked digests to remember
--
-- Returns {plan, status}.

local old = redis.call('HGET', KEYS[1], 'digest')

if old and old ~= ARGV[1] then
    redis.call('ZADD', KEYS[2], ARGV[6], old)
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[7]) + 1))
end

local plan = ARGV[4]
if plan == '' then
    plan = redis.call('HGET', KEYS[1], 'plan') or ARGV[5]
end

-- a new key reconnects a disconnected user, but a ban outlives it
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'BANNED' then
    status = 'CONNECTED'
end

redis.call('HSET', KEYS[1],
           'digest', ARGV[1], 'issued_id', ARGV[2], 'env', ARGV[3],
           'plan', plan, 'status', status, 'issued_at', ARGV[6])
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[6])

return {plan, status}
