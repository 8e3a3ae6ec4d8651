-- Put dead letters back on the queue as fresh jobs. ARGV[4..], 3 values per letter: id,
-- payload (attempt 0), priority. A letter gone meanwhile is skipped. Returns how many came back.
local revived = 0
for i = 4, #ARGV, 3 do
  local id, payload, p = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if redis.call('ZREM', K_DEAD, id) == 1 then
    redis.call('HDEL', K_DEAD_DATA, id)
    if redis.call('HEXISTS', K_JOBS, id) == 0 and not redis.call('ZSCORE', K_INFLIGHT, id) then
      redis.call('HSET', K_JOBS, id, payload)
      redis.call('HDEL', K_RUNS, id)
      if p ~= 0 then redis.call('HSET', K_PRIO, id, p) end
      push_ready(p, {id}, false)
    end
    revived = revived + 1
  end
end
if revived > 0 then wake() end
return revived
