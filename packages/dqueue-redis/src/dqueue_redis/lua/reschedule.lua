-- Move waiting jobs to a new due time. ARGV[4] the due time ('' = now), then 3 values per job:
-- id, its payload as the client read it, and that payload with the new due time as run_after
-- (which unschedule finds it by). A job leased, gone or changed since it was read is left
-- alone. Returns the ids moved.
local due = ARGV[4]
local moved = {}
for i = 5, #ARGV, 3 do
  local id, read, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HGET', K_JOBS, id) == read and not redis.call('ZSCORE', K_INFLIGHT, id) then
    unschedule(id, read)
    redis.call('HSET', K_JOBS, id, payload)
    schedule(id, due, priority_of(id))
    local record = base .. 'r:' .. id
    local ttl = tonumber(redis.call('HGET', record, 'ttl'))
    if ttl then
      -- A record lasts until its ttl after the due time, as at enqueue (records.record_update).
      local expires = math.max(tonumber(due) or now, now) + ttl
      redis.call('HSET', record, 'expires', string.format('%.17g', expires))
      redis.call('PEXPIRE', record, math.ceil((expires - now + 3600) * 1000))
    end
    moved[#moved + 1] = id
  end
end
return moved
