-- Counts of one queue, read in one consistent look.
-- Returns {ready, delayed, in flight, dead, paused until ('' = not), lateness samples}.
local stored = redis.call('HLEN', K_JOBS)
local delayed = redis.call('ZCARD', K_DELAYED)
local due = redis.call('ZCOUNT', K_DELAYED, '-inf', now_arg)
local in_flight = 0
if reliable then in_flight = redis.call('ZCARD', K_INFLIGHT) end
local paused = redis.call('GET', K_PAUSED)
if not paused or tonumber(paused) <= now then paused = '' end
return {
  stored - in_flight - delayed + due,
  delayed - due,
  in_flight,
  redis.call('ZCARD', K_DEAD),
  paused,
  redis.call('LRANGE', K_LATENESS, 0, -1),
}
