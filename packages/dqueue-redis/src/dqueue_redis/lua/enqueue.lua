-- Store jobs, in order. ARGV[3..], 8 values per job: id, payload, due ('' = ready now),
-- priority, attempt, unique key ('' = none), unique expiry ('' = held until settled),
-- record update ('' = keeps no result). Returns, per job, its id or the id of the job that
-- already holds its id or its unique key (then nothing is stored).
promote(CHUNK)
local ids = {}
local plain = {}
local woke = false
local earliest = earliest_due()
for i = 3, #ARGV, 8 do
  local id, payload, due, p = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local attempt, ukey, uexpiry, record = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local holder = nil
  if redis.call('HEXISTS', K_JOBS, id) == 1 or redis.call('ZSCORE', K_INFLIGHT, id) then
    holder = id
  elseif ukey ~= '' then
    holder = unique_holder(ukey)
  end
  if holder then
    ids[#ids + 1] = holder
  else
    if ukey ~= '' then
      local key = base .. 'u:' .. ukey
      if uexpiry == '' then
        redis.call('SET', key, id .. '|')
        redis.call('HSET', K_UNIQ, id, ukey)
      else
        -- The stored expiry decides; the key's own TTL only collects it later.
        local gc_ms = math.ceil((tonumber(uexpiry) - now) * 1000) + 60000
        redis.call('SET', key, id .. '|' .. uexpiry, 'PX', math.max(gc_ms, 1))
      end
    end
    redis.call('HSET', K_JOBS, id, payload)
    if attempt ~= '0' then redis.call('HSET', K_RUNS, id, attempt) end
    if p ~= 0 then redis.call('HSET', K_PRIO, id, p) end
    if due ~= '' and tonumber(due) > now then
      redis.call('ZADD', K_DELAYED, due, delayed_member(id))
      if not earliest or tonumber(due) < earliest then
        earliest = tonumber(due)
        woke = true
      end
    else
      if p == 0 then plain[#plain + 1] = id else push_ready(p, {id}, false) end
      woke = true
    end
    write_record(id, record)
    ids[#ids + 1] = id
  end
end
push_ready(0, plain, false)
if woke then wake() end
return ids
