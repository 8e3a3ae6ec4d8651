-- Drop worker ARGV[4] from the queue's living at once. Returns 1 when it was there, else 0.
local id = ARGV[4]
redis.call('DEL', base .. 'worker:' .. id)
return redis.call('ZREM', K_WORKERS, id)
