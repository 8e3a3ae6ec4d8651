-- Apply outcomes of reserved jobs. ARGV[3] worker id, ARGV[4] '1' for at-least-once, ARGV[5]
-- dead-letter limit; then 8 values per outcome: kind ('a' ack, 'r' retry, 'd' dead, 'l'
-- release), id, attempt, data (payload for r and l, dead letter for d), due (for r; '' = now),
-- priority, lateness ('' = none), record update ('' = none).
-- At-least-once, an outcome applies only while the lease is held by this worker for this
-- attempt. Returns the ids of the outcomes not applied.
local worker = ARGV[3]
local reliable = ARGV[4] == '1'
local dead_limit = tonumber(ARGV[5])
local lost = {}
local samples = {}
local released = {}  -- priority -> ids, returned to the front of their list in their order
for i = 6, #ARGV, 8 do
  local kind, id, attempt, data = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local due, p, late, record = ARGV[i + 4], tonumber(ARGV[i + 5]), ARGV[i + 6], ARGV[i + 7]
  if reliable and redis.call('HGET', K_RUNS, id) ~= attempt .. '|' .. worker then
    lost[#lost + 1] = id
  else
    if late ~= '' then samples[#samples + 1] = late end
    if kind == 'a' then
      forget(id)
    elseif kind == 'd' then
      bury(id, data, dead_limit)
      forget(id)
    else
      redis.call('ZREM', K_INFLIGHT, id)
      if data ~= '' then redis.call('HSET', K_JOBS, id, data) end
      local runs = tonumber(attempt)
      if kind == 'l' then runs = runs - 1 end
      if runs > 0 then redis.call('HSET', K_RUNS, id, runs) else redis.call('HDEL', K_RUNS, id) end
      if p ~= 0 then redis.call('HSET', K_PRIO, id, p) else redis.call('HDEL', K_PRIO, id) end
      if kind == 'r' then
        schedule(id, due, p, false)
      else
        released[p] = released[p] or {}
        table.insert(released[p], id)
      end
    end
    write_record(id, record)
  end
end
for p, ids in pairs(released) do
  push_ready(p, ids, true)
  wake()
end
if #samples > 0 then
  call_chunked('LPUSH', K_LATENESS, samples)
  redis.call('LTRIM', K_LATENESS, 0, LATENESS_SAMPLES - 1)
end
return lost
