-- Shared by every dqueue script: each script is this prelude followed by its own body.
--
-- ARGV[1] is the key base of one queue, "<prefix>:{<queue>}:", so that every key a script
-- touches hashes to one slot. ARGV[2] is the caller's clock (epoch seconds, as the shortest
-- repr of a float): time comes from the client so that an injected clock drives the
-- server-side logic too, and times that are stored are stored exactly as the client wrote them.
-- ARGV[3] is '1' for at-least-once delivery. A script's own arguments start at ARGV[4].
-- Lease deadlines add how late the script runs (late_by), so a lease counts from then.
local base = ARGV[1]
local now_arg = ARGV[2]
local now = tonumber(now_arg)
local reliable = ARGV[3] == '1'

-- How long after it was sent the server runs this call (a stalled server, a slow network), by
-- the server's own clock: `sent` is the server's clock at sending, as the client estimated it.
local function late_by(sent)
  local t = redis.call('TIME')
  return math.max(0, tonumber(t[1]) + tonumber(t[2]) / 1000000 - tonumber(sent))
end

-- The server's clock now: epoch milliseconds (a number), and epoch seconds exactly as TIME
-- gave them (text: a Lua number would round the microseconds away).
local function server_clock()
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return ms, t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end

local K_JOBS = base .. 'jobs'
local K_RUNS = base .. 'runs'
local K_PRIO = base .. 'prio'
local K_PRIOS = base .. 'prios'
local K_READY = base .. 'ready'
local K_DELAYED = base .. 'delayed'
local K_SEQ = base .. 'seq'
local K_INFLIGHT = base .. 'inflight'
local K_WAKE = base .. 'wake'
local K_TIMER = base .. 'timer'
local K_PAUSED = base .. 'paused'
local K_UNIQ = base .. 'uniq'
local K_REC = base .. 'rec'
local K_DEAD = base .. 'dead'
local K_DEAD_DATA = base .. 'dead:data'
local K_LATENESS = base .. 'lateness'
local K_DONE = base .. 'done'
local K_CANCELLED = base .. 'cancelled'
local K_PROGRESS = base .. 'progress'
local K_WORKERS = base .. 'workers'

-- Variadic commands are sent in chunks (call_chunked): Lua's C stack takes a few thousand
-- values at most.
local CHUNK = 1000
local LATENESS_SAMPLES = 1000

local function ready_key(p)
  if p == 0 then return K_READY end
  return K_READY .. ':' .. p
end

-- Returns the replies of an array command (HMGET) joined into one array.
local function call_chunked(command, key, items)
  local out = {}
  for i = 1, #items, CHUNK do
    local reply = redis.call(command, key, unpack(items, i, math.min(i + CHUNK - 1, #items)))
    if type(reply) == 'table' then
      for _, value in ipairs(reply) do out[#out + 1] = value end
    end
  end
  return out
end

-- One token wakes one waiting worker. A token already waiting will do: the worker it wakes
-- passes it on when it leaves work behind (see reserve.lua), so a burst wakes no herd.
local function wake()
  if redis.call('LLEN', K_WAKE) == 0 then redis.call('RPUSH', K_WAKE, '1') end
end

-- Append ids to the ready list of priority p (prepend them, in order, when `front`).
local function push_ready(p, ids, front)
  if #ids == 0 then return end
  if p ~= 0 then redis.call('ZADD', K_PRIOS, -p, p) end
  if front then
    local reversed = {}
    for i = #ids, 1, -1 do reversed[#reversed + 1] = ids[i] end
    call_chunked('LPUSH', ready_key(p), reversed)
  else
    call_chunked('RPUSH', ready_key(p), ids)
  end
end

local function priority_of(id)
  return tonumber(redis.call('HGET', K_PRIO, id) or 0)
end

-- Members of the delayed set are "<sequence>:<id>": jobs due at the same instant sort in the
-- order they were scheduled, as the sorted set orders equal scores by member.
local seq_next, seq_last = 1, 0
local function delayed_member(id)
  if seq_next > seq_last then
    seq_last = redis.call('INCRBY', K_SEQ, CHUNK)
    seq_next = seq_last - CHUNK + 1
  end
  local member = string.format('%014d:', seq_next) .. id
  seq_next = seq_next + 1
  return member
end

local function member_id(member)
  return string.sub(member, 16)
end

local function earliest_due()
  local first = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
  if #first == 0 then return nil end
  return tonumber(first[2])
end

-- Put a waiting job where it belongs: the delayed set until `due` (a string), else its ready
-- list. Wake a waiter when it is ready, or due before everything else that is delayed.
local function schedule(id, due, p)
  if due ~= '' and tonumber(due) > now then
    local earliest = earliest_due()
    redis.call('ZADD', K_DELAYED, due, delayed_member(id))
    if not earliest or tonumber(due) < earliest then wake() end
  else
    push_ready(p, {id}, false)
    wake()
  end
end

-- Move due jobs (at most `max`, earliest first) from the delayed set to their ready lists.
-- ZREMRANGEBYRANK takes exactly the members just read: they are the lowest ranks.
local function promote(max)
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now_arg, 'LIMIT', 0, max)
  local n = #due
  if n == 0 then return 0 end
  redis.call('ZREMRANGEBYRANK', K_DELAYED, 0, n - 1)
  local prioritised = redis.call('EXISTS', K_PRIO) == 1
  local plain = {}
  for i = 1, n do
    local id = member_id(due[i])
    local p = 0
    if prioritised then p = priority_of(id) end
    if p == 0 then plain[#plain + 1] = id else push_ready(p, {id}, false) end
  end
  push_ready(0, plain, false)
  return n
end

-- The id of the job that holds unique key `key`, or nil when the key is free. The stored value
-- is "<job id>|<expiry>" (expiry empty: held until the job is settled).
local function unique_holder(key)
  local value = redis.call('GET', base .. 'u:' .. key)
  if not value then return nil end
  local holder, expires = string.match(value, '^(.*)|(.*)$')
  if expires ~= '' and tonumber(expires) <= now then return nil end
  return holder
end

local function release_unique(id)
  local key = redis.call('HGET', K_UNIQ, id)
  if key then
    redis.call('HDEL', K_UNIQ, id)
    if unique_holder(key) == id then redis.call('DEL', base .. 'u:' .. key) end
  end
end

-- Drop every trace of jobs that are finished, dead or cleared (dead letters and result
-- records stay). Batched: a few commands whatever the number of jobs.
local function forget(ids)
  if #ids == 0 then return end
  call_chunked('HDEL', K_JOBS, ids)
  call_chunked('HDEL', K_RUNS, ids)
  call_chunked('ZREM', K_INFLIGHT, ids)
  if redis.call('EXISTS', K_PRIO) == 1 then call_chunked('HDEL', K_PRIO, ids) end
  if redis.call('EXISTS', K_REC) == 1 then call_chunked('HDEL', K_REC, ids) end
  if redis.call('EXISTS', K_CANCELLED) == 1 then call_chunked('SREM', K_CANCELLED, ids) end
  if redis.call('EXISTS', K_PROGRESS) == 1 then call_chunked('HDEL', K_PROGRESS, ids) end
  if redis.call('EXISTS', K_UNIQ) == 1 then
    for _, id in ipairs(ids) do release_unique(id) end
  end
end

-- Keep the ids of jobs finished for good (acked, dead or cancelled) for `retention` seconds,
-- scored by when they are forgotten: enqueue stores nothing under such an id
-- (DQUEUE_ID_RETENTION).
local function remember_finished(ids, retention)
  if retention <= 0 or #ids == 0 then return end
  local members, expires = {}, now + retention
  for _, id in ipairs(ids) do
    members[#members + 1] = expires
    members[#members + 1] = id
  end
  call_chunked('ZADD', K_DONE, members)
  redis.call('ZREMRANGEBYSCORE', K_DONE, '-inf', now_arg)
end

-- Apply an update prepared by the client (JSON: [GC milliseconds, field, value, ...]) to the
-- result record of a job that keeps one.
local function write_record(id, update)
  if update == '' then return end
  local fields = cjson.decode(update)
  local key = base .. 'r:' .. id
  redis.call('HSET', key, unpack(fields, 2))
  redis.call('PEXPIRE', key, fields[1])
end

-- Update the result record of a job, if it keeps one, from inside a script.
local function touch_record(id, gc_extra_s, ...)
  local key = base .. 'r:' .. id
  local ttl = redis.call('HGET', key, 'ttl')
  if not ttl then return false end
  ttl = tonumber(ttl)
  redis.call('HSET', key, 'expires', now + ttl, ...)
  redis.call('PEXPIRE', key, math.ceil((ttl + gc_extra_s) * 1000))
  return true
end

-- The record of a job that finished as cancelled (dqueue.lifecycle.cancelled, or a step that
-- would store a job cancelled in flight again), if it keeps one; `...` are more fields to set.
local function record_cancelled(id, ...)
  if touch_record(id, 0, 'status', 'cancelled', ...) then
    redis.call('HSETNX', base .. 'r:' .. id, 'finished_at', now_arg)
  end
end

-- Take waiting job `id` (stored as `payload`) out of the delayed set or its ready list. Its
-- member in the delayed set is found at its due time, which its envelope keeps (run_after, as
-- the client wrote it: '%.17g' gives that double back), among the members of that score; a
-- payload that is not an envelope makes this scan the whole set.
local function unschedule(id, payload)
  local ok, job = pcall(cjson.decode, payload)
  local due = ok and type(job) == 'table' and tonumber(job['run_after'])
  if due then
    local score = string.format('%.17g', due)
    local offset = 0
    while true do
      local members =
        redis.call('ZRANGE', K_DELAYED, score, score, 'BYSCORE', 'LIMIT', offset, CHUNK)
      for _, member in ipairs(members) do
        if member_id(member) == id then return redis.call('ZREM', K_DELAYED, member) end
      end
      if #members < CHUNK then break end
      offset = offset + CHUNK
    end
  end
  if redis.call('LREM', ready_key(priority_of(id)), 0, id) > 0 or due then return end
  for _, member in ipairs(redis.call('ZRANGE', K_DELAYED, 0, -1)) do
    if member_id(member) == id then return redis.call('ZREM', K_DELAYED, member) end
  end
end

-- Add a dead letter (JSON) under `id`, newest last, keeping at most `limit` of them. The score
-- is a sequence, not a time: letters buried in one instant keep their order.
local function bury(id, letter, limit)
  redis.call('ZADD', K_DEAD, redis.call('INCR', K_SEQ), id)
  redis.call('HSET', K_DEAD_DATA, id, letter)
  local extra = redis.call('ZCARD', K_DEAD) - limit
  if extra > 0 then
    local oldest = redis.call('ZPOPMIN', K_DEAD, extra)
    for i = 1, #oldest, 2 do redis.call('HDEL', K_DEAD_DATA, oldest[i]) end
  end
end

-- Deal with jobs whose lease ran out (at most `max`), as dqueue.lifecycle.lease_expired does.
-- At-least-once: back to the front of their ready list with the attempt counted, or into the
-- dead letters after the last attempt; the failure's type is `kind` (FailureKind.LEASE_EXPIRED,
-- passed by the client); one cancelled in flight with attempts left finishes as cancelled. The
-- runs hash is the one count of attempts. At-most-once: the job left with its worker; free the
-- unique key it held. A job that died or finished keeps its id taken for `retention` seconds.
-- Returns how many jobs went back, died or finished.
local function recover_expired(max, dead_limit, kind, retention)
  local ids = redis.call('ZRANGEBYSCORE', K_INFLIGHT, '-inf', now_arg, 'LIMIT', 0, max)
  if #ids == 0 then return 0 end
  local recovered = 0
  for _, id in ipairs(ids) do
    redis.call('ZREM', K_INFLIGHT, id)
    local payload = reliable and redis.call('HGET', K_JOBS, id)
    if not payload then
      forget({id})
    else
      local attempt, owner = string.match(redis.call('HGET', K_RUNS, id) or '', '^(%d+)|(.*)$')
      attempt = tonumber(attempt) or 0
      local ok, job = pcall(cjson.decode, payload)
      local max_attempts = ok and type(job) == 'table' and tonumber(job['max_attempts'])
      -- cjson reads NaN and Infinity: only a count in range may keep a job coming back.
      if not (max_attempts and max_attempts >= 1 and max_attempts <= 2147483647) then
        max_attempts = 1
      end
      local failure = {
        exception_type = kind,
        message = 'worker ' .. (owner or '?') .. ' stopped renewing its lease (crashed or stuck)',
        traceback = '', at = now, attempt = attempt,
      }
      local failure_json = cjson.encode(failure)
      if attempt >= max_attempts then
        local letter = {payload = payload, attempt = attempt, failure = failure, died_at = now}
        bury(id, cjson.encode(letter), dead_limit)
        forget({id})
        remember_finished({id}, retention)
        touch_record(id, 0, 'status', 'dead', 'finished_at', now_arg, 'f:' .. attempt, failure_json)
      elseif redis.call('SISMEMBER', K_CANCELLED, id) == 1 then
        -- Cancelled in flight: it finishes rather than go back (dqueue.lifecycle.lease_expired).
        forget({id})
        remember_finished({id}, retention)
        record_cancelled(id, 'f:' .. attempt, failure_json)
      else
        redis.call('HSET', K_RUNS, id, attempt)
        redis.call('HDEL', K_PROGRESS, id)  -- the progress of the run that stopped
        push_ready(priority_of(id), {id}, true)
        touch_record(id, 0, 'status', 'failed', 'f:' .. attempt, failure_json)
      end
      recovered = recovered + 1
    end
  end
  if recovered > 0 then wake() end
  return recovered
end
