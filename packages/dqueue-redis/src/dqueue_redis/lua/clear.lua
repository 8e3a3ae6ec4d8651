-- Remove up to ARGV[4] waiting jobs: ready ones first (every priority's list), then the soonest
-- delayed ones. Jobs in flight stay, and the unique keys of removed jobs are free again. Taking
-- ids off the heads of the lists keeps each call short however long the queue is, so a caller
-- clears millions of jobs in batches without holding the server. Returns {removed, taken}:
-- `taken` also counts list entries of jobs already gone; 0 means nothing waits any more.
local limit = tonumber(ARGV[4])
local ids = {}
local taken = 0
local function take(id)
  taken = taken + 1
  if redis.call('HEXISTS', K_JOBS, id) == 1 and not redis.call('ZSCORE', K_INFLIGHT, id) then
    ids[#ids + 1] = id
  end
end
local lists = {K_READY}
for _, member in ipairs(redis.call('ZRANGE', K_PRIOS, 0, -1)) do
  lists[#lists + 1] = ready_key(tonumber(member))
end
for _, key in ipairs(lists) do
  while taken < limit do
    local batch = redis.call('LPOP', key, math.min(limit - taken, CHUNK))
    if not batch then break end
    for _, id in ipairs(batch) do take(id) end
  end
end
if taken < limit then
  local members = redis.call('ZPOPMIN', K_DELAYED, limit - taken)
  for i = 1, #members, 2 do take(member_id(members[i])) end
end
forget(ids)
return {#ids, taken}
