-- Apply outcomes of reserved jobs. ARGV[4] worker id, ARGV[5] dead-letter limit, ARGV[6] how
-- long the ids of acked and dead jobs stay taken (seconds), ARGV[7] the number n of plain acks (no result kept); then n times 3 values: id, attempt, lateness ('' =
-- none); then 8 values per other outcome: kind (OutcomeKind: ack, retry, dead, release), id,
-- attempt, data (payload for retry and release, dead letter for dead), due (for retry; '' =
-- now), priority, lateness, record update ('' = none).
-- At-least-once, an outcome applies only while the lease is held by this worker for this
-- attempt, and a retry or release of a job cancelled in flight finishes it as cancelled.
-- Returns the ids of the outcomes not applied.
local worker = ARGV[4]
local dead_limit = tonumber(ARGV[5])
local others = 8 + 3 * tonumber(ARGV[7])

local ids = {}
for i = 8, others - 1, 3 do ids[#ids + 1] = ARGV[i] end
for i = others, #ARGV, 8 do ids[#ids + 1] = ARGV[i + 1] end
local owners = {}
if reliable then owners = call_chunked('HMGET', K_RUNS, ids) end

local lost = {}
local samples = {}
local done = {}
local released = {}  -- priority -> ids, returned to the front of their list in their order
local index = 0

local function owned(id, attempt)
  index = index + 1
  if reliable and owners[index] ~= attempt .. '|' .. worker then
    lost[#lost + 1] = id
    return false
  end
  return true
end

for i = 8, others - 1, 3 do
  local id = ARGV[i]
  if owned(id, ARGV[i + 1]) then
    done[#done + 1] = id
    if ARGV[i + 2] ~= '' then samples[#samples + 1] = ARGV[i + 2] end
  end
end

for i = others, #ARGV, 8 do
  local kind, id, attempt, data = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local due, p, late, record = ARGV[i + 4], tonumber(ARGV[i + 5]), ARGV[i + 6], ARGV[i + 7]
  if owned(id, attempt) then
    if late ~= '' then samples[#samples + 1] = late end
    local cancelled = false
    if kind == 'ack' then
      done[#done + 1] = id
    elseif kind == 'dead' then
      bury(id, data, dead_limit)
      done[#done + 1] = id
    elseif redis.call('SISMEMBER', K_CANCELLED, id) == 1 then
      -- Cancelled in flight: what would store it again finishes it (dqueue.lifecycle.settled).
      done[#done + 1] = id
      cancelled = true
    else
      redis.call('ZREM', K_INFLIGHT, id)
      redis.call('HDEL', K_PROGRESS, id)  -- it waits again: the progress was this run's
      if data ~= '' then redis.call('HSET', K_JOBS, id, data) end
      local runs = tonumber(attempt)
      if kind == 'release' then runs = runs - 1 end
      if runs > 0 then redis.call('HSET', K_RUNS, id, runs) else redis.call('HDEL', K_RUNS, id) end
      if p ~= 0 then redis.call('HSET', K_PRIO, id, p) else redis.call('HDEL', K_PRIO, id) end
      if kind == 'retry' then
        schedule(id, due, p)
      else
        released[p] = released[p] or {}
        table.insert(released[p], id)
      end
    end
    write_record(id, record)
    if cancelled then record_cancelled(id) end
  end
end

forget(done)
remember_finished(done, tonumber(ARGV[6]))
for p, returned in pairs(released) do
  push_ready(p, returned, true)
  wake()
end
if #samples > 0 then
  call_chunked('LPUSH', K_LATENESS, samples)
  redis.call('LTRIM', K_LATENESS, 0, LATENESS_SAMPLES - 1)
end
return lost
