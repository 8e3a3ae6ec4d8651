-- Delete every waiting (ready or delayed) job of the queue, freeing their unique keys; jobs in
-- flight keep what they need. Returns how many jobs were deleted.
local waiting = {}
for _, id in ipairs(redis.call('HKEYS', K_JOBS)) do
  if not redis.call('ZSCORE', K_INFLIGHT, id) then waiting[#waiting + 1] = id end
end
for _, member in ipairs(redis.call('ZRANGE', K_PRIOS, 0, -1)) do
  redis.call('UNLINK', ready_key(tonumber(member)))
end
redis.call('UNLINK', K_READY, K_PRIOS, K_DELAYED)
forget(waiting)
return #waiting
