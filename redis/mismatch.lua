-- Disconnect the owner of a key that was presented under another user's
-- id: the key has leaked. Nothing changes unless the key is the owner's
-- valid key, so that a made-up key cannot disconnect anyone.
--
-- KEYS[1]  the key owner's record (hash)
-- KEYS[2]  the key owner's audit trail (stream)
-- ARGV[1]  SHA-256 of the presented key, hex
-- ARGV[2]  the owner's user id, for the audit entry
-- ARGV[3]  actor: the client address
-- ARGV[4]  the user id the request claimed
-- ARGV[5]  maximum length of the audit stream
--
-- Returns {"IGNORED"}, or {status} when the owner is now, or already was,
-- disconnected or banned, followed by the audit entry as field, value…
-- when this call disconnected the owner.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local rec = redis.call('HMGET', KEYS[1], 'digest', 'status', 'issued_id',
                       'prev_digest', 'prev_expires', 'prev_issued_id')

local issued_id = rec[3]

if rec[1] ~= ARGV[1] then
    if rec[4] == ARGV[1] and now < (tonumber(rec[5]) or 0) then
        issued_id = rec[6]
    else
        return {'IGNORED'}
    end
end

if rec[2] == 'BANNED' or rec[2] == 'DISCONNECTED' then
    return {rec[2]}
end

redis.call('HSET', KEYS[1], 'status', 'DISCONNECTED',
           'status_reason', 'IDENTITY_MISMATCH')

local entry = {'time', tostring(now), 'action', 'auto_disconnect',
               'user_id', ARGV[2], 'issued_id', issued_id or '',
               'actor', ARGV[3],
               'reason', 'IDENTITY_MISMATCH: claimed user ' .. ARGV[4]}

redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', unpack(entry))

return {'DISCONNECTED', unpack(entry)}
