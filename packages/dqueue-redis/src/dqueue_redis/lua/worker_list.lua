-- The living workers of the queue, by the server's clock: {id, {field, value, ...}, ...}, the
-- hash replaced by a string when the key is not a hash (the client skips it, and logs it).
-- Members whose beat ran out, or whose hash is gone (forgotten, expired), are trimmed.
local now_ms = server_clock()
redis.call('ZREMRANGEBYSCORE', K_WORKERS, '-inf', '(' .. now_ms)
local out, gone = {}, {}
for _, id in ipairs(redis.call('ZRANGE', K_WORKERS, 0, -1)) do
  local fields = redis.pcall('HGETALL', base .. 'worker:' .. id)
  if fields['err'] then
    out[#out + 1] = id
    out[#out + 1] = 'not a hash'
  elseif #fields == 0 then
    gone[#gone + 1] = id
  else
    out[#out + 1] = id
    out[#out + 1] = fields
  end
end
if #gone > 0 then call_chunked('ZREM', K_WORKERS, gone) end
return out
