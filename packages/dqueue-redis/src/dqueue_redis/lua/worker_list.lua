-- The living workers of the queue, by the server's clock: {id, {value, ...}, ...}, the values
-- of the fields ARGV[4..] (false where missing) of each one's hash, or the string 'not a hash'
-- in their place when the key is another type (the client skips and logs both). Members whose
-- beat ran out, or whose hash is gone (forgotten, expired), are trimmed.
local fields = {unpack(ARGV, 4)}
local now_ms = server_clock()
redis.call('ZREMRANGEBYSCORE', K_WORKERS, '-inf', '(' .. now_ms)
local out, gone = {}, {}
for _, id in ipairs(redis.call('ZRANGE', K_WORKERS, 0, -1)) do
  local key = base .. 'worker:' .. id
  local values = redis.pcall('HMGET', key, unpack(fields))
  if values['err'] then
    values = 'not a hash'
  elseif not values[1] and redis.call('EXISTS', key) == 0 then
    values = nil
  end
  if values then
    out[#out + 1] = id
    out[#out + 1] = values
  else
    gone[#gone + 1] = id
  end
end
if #gone > 0 then call_chunked('ZREM', K_WORKERS, gone) end
return out
