-- Hand out up to ARGV[4] due jobs. ARGV[5] worker id, ARGV[6] lease deadline, ARGV[7] waiter
-- id (one waiting reserve call), ARGV[8] dead-letter limit, ARGV[9] grace (ms) of the delay
-- timer, ARGV[10] the failure type of an expired lease, ARGV[11] the id retention (seconds),
-- ARGV[12] the server's clock at sending (see late_by).
--
-- Replies {'jobs', id, attempt, payload, id, attempt, payload, ...}. When nothing is due:
-- {'paused', until}, {'idle'} or {'delayed', earliest due, holder}:
-- holder = 1 when this waiter now holds the queue's delay timer and should wake at the
-- earliest due time itself. One waiter holds it; the others sleep until a wake token or their
-- timeout, so a due job wakes no herd.
local limit = tonumber(ARGV[4])
local worker = ARGV[5]
local waiter = ARGV[7]

local paused = redis.call('GET', K_PAUSED)
if paused and tonumber(paused) > now then return {'paused', paused} end

recover_expired(100, tonumber(ARGV[8]), ARGV[10], tonumber(ARGV[11]))
promote(CHUNK)

local reply = {'jobs'}
local taken_ids = {}
local attempts = {}
local has_records = redis.call('EXISTS', K_REC) == 1

local function take(p)
  local key = ready_key(p)
  local ids = redis.call('LPOP', key, limit - #taken_ids)
  if ids then
    local payloads = redis.call('HMGET', K_JOBS, unpack(ids))
    local runs = redis.call('HMGET', K_RUNS, unpack(ids))
    for i, id in ipairs(ids) do
      local payload, run = payloads[i], runs[i]
      -- An id without a payload was removed meanwhile; one with an owner is already leased.
      if payload and not (run and string.find(run, '|', 1, true)) then
        local attempt = (tonumber(run) or 0) + 1
        taken_ids[#taken_ids + 1] = id
        attempts[#attempts + 1] = attempt
        local n = #reply
        reply[n + 1], reply[n + 2], reply[n + 3] = id, attempt, payload
      end
    end
  end
  if p ~= 0 and redis.call('LLEN', key) == 0 then redis.call('ZREM', K_PRIOS, p) end
end

-- Highest priority first; the default priority 0 has the plain ready list.
local zero_done = false
for _, member in ipairs(redis.call('ZRANGE', K_PRIOS, 0, -1)) do
  if #taken_ids >= limit then break end
  local p = tonumber(member)
  if p < 0 and not zero_done then
    zero_done = true
    take(0)
    if #taken_ids >= limit then break end
  end
  take(p)
end
if not zero_done and #taken_ids < limit then take(0) end

local taken = #taken_ids
if taken > 0 then
  local lease_until = tonumber(ARGV[6]) + late_by(ARGV[12])
  local leases = {}
  for i, id in ipairs(taken_ids) do
    leases[#leases + 1] = lease_until
    leases[#leases + 1] = id
  end
  call_chunked('ZADD', K_INFLIGHT, leases)
  if reliable then
    local owners = {}
    for i, id in ipairs(taken_ids) do
      owners[#owners + 1] = id
      owners[#owners + 1] = attempts[i] .. '|' .. worker
    end
    call_chunked('HSET', K_RUNS, owners)
  else
    -- At-most-once: the job leaves the store with its worker. Its id stays in the in-flight
    -- set only to refuse a second copy of it and to free its unique key if the worker dies.
    call_chunked('HDEL', K_JOBS, taken_ids)
    call_chunked('HDEL', K_RUNS, taken_ids)
    if redis.call('EXISTS', K_PRIO) == 1 then call_chunked('HDEL', K_PRIO, taken_ids) end
  end
  if has_records then
    for i, id in ipairs(taken_ids) do
      if redis.call('HEXISTS', K_REC, id) == 1 then
        touch_record(id, 3600, 'status', 'running', 'started_at', now_arg,
                     'attempt', attempts[i], 'w:' .. attempts[i], worker)
        redis.call('HDEL', base .. 'r:' .. id, 'finished_at')
      end
    end
  end
  -- A busy worker can't keep the delay timer: hand it to another waiter.
  local timer = redis.call('GET', K_TIMER)
  if timer and string.sub(timer, -#waiter - 1) == '|' .. waiter then
    redis.call('DEL', K_TIMER)
    if redis.call('ZCARD', K_DELAYED) > 0 then wake() end
  end
  -- Work left behind: pass the token on to the next waiter.
  if taken >= limit and (redis.call('LLEN', K_READY) > 0 or redis.call('ZCARD', K_PRIOS) > 0) then
    wake()
  end
  return reply
end

-- Nothing to hand out: this look answers every token waiting, so drop them.
redis.call('DEL', K_WAKE)
local first = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
if #first == 0 then return {'idle'} end
local due = tonumber(first[2])
local holder = 1
local timer = redis.call('GET', K_TIMER)
if timer then
  local timer_due, timer_waiter = string.match(timer, '^([^|]*)|(.*)$')
  timer_due = tonumber(timer_due) or 0
  if not (timer_waiter == waiter or timer_due > due or timer_due <= now) then holder = 0 end
end
if holder == 1 then
  local ttl_ms = math.max(math.ceil((due - now) * 1000), 1) + tonumber(ARGV[9])
  redis.call('SET', K_TIMER, first[2] .. '|' .. waiter, 'PX', ttl_ms)
end
return {'delayed', first[2], holder}
