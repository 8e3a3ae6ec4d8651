-- Delete every waiting (ready or delayed) job of the queue, freeing their unique keys; jobs in
-- flight keep what they need. Returns how many jobs were deleted.
local reliable = ARGV[3] == '1'
local in_flight = redis.call('ZRANGE', K_INFLIGHT, 0, -1)
local held = {}
for _, id in ipairs(in_flight) do held[id] = true end
local cleared = redis.call('HLEN', K_JOBS)
local keep = {}
if reliable then
  cleared = cleared - #in_flight
  for _, id in ipairs(in_flight) do
    keep[#keep + 1] = {id, redis.call('HGET', K_JOBS, id), redis.call('HGET', K_RUNS, id),
                       redis.call('HGET', K_PRIO, id), redis.call('HGET', K_REC, id)}
  end
end
local unique = redis.call('HGETALL', K_UNIQ)
for i = 1, #unique, 2 do
  if not held[unique[i]] then release_unique(unique[i]) end
end
for _, member in ipairs(redis.call('ZRANGE', K_PRIOS, 0, -1)) do
  redis.call('UNLINK', ready_key(tonumber(member)))
end
redis.call('UNLINK', K_READY, K_PRIOS, K_DELAYED, K_JOBS, K_RUNS, K_PRIO, K_REC)
for _, job in ipairs(keep) do
  local id, payload, run, p, kept = job[1], job[2], job[3], job[4], job[5]
  if payload then redis.call('HSET', K_JOBS, id, payload) end
  if run then redis.call('HSET', K_RUNS, id, run) end
  if p then redis.call('HSET', K_PRIO, id, p) end
  if kept then redis.call('HSET', K_REC, id, kept) end
end
return cleared
