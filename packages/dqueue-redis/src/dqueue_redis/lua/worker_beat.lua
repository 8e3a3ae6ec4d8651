-- Record the beat of worker ARGV[4], alive for ARGV[5] milliseconds by the server's clock (so
-- that a worker's own clock being off changes nothing); ARGV[6..] are the beat's fields and
-- values. The beat replaces the previous one whole: a field it leaves out (no current job) is
-- gone. Returns when it beat (epoch seconds, the server's clock).
local id, ttl_ms = ARGV[4], tonumber(ARGV[5])
local now_ms, beat_at = server_clock()
local key = base .. 'worker:' .. id
redis.call('DEL', key)
redis.call('HSET', key, 'beat_at', beat_at, unpack(ARGV, 6))
redis.call('PEXPIRE', key, ttl_ms)
redis.call('ZADD', K_WORKERS, now_ms + ttl_ms, id)
-- Members whose beat ran out go here as well as when listed: the set never outgrows the living.
redis.call('ZREMRANGEBYSCORE', K_WORKERS, '-inf', '(' .. now_ms)
-- The set lasts as long as its longest-lived member: a queue whose workers all died keeps nothing.
local last = redis.call('ZRANGE', K_WORKERS, -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', K_WORKERS, last[2])
return beat_at
