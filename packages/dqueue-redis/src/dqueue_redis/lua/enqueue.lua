-- Store jobs, in order. ARGV[4..], 4 values per job: id, payload,
-- due ('' = ready now), options ('' for a plain job, else JSON [priority, attempt, unique key
-- ('' = none), unique expiry ('' = held until settled), record update ('' = none)]).
-- Returns, per job, its id or the id of the job that already holds its id or its unique key
-- (then nothing is stored); an id that finished less than DQUEUE_ID_RETENTION ago is held too.
promote(CHUNK)
local ids = {}
local plain = {}
local woke = false
local earliest = false  -- not looked up until a delayed job needs it
for i = 4, #ARGV, 4 do
  local id, payload, due, options = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local p, attempt, ukey, uexpiry, record = 0, 0, '', '', ''
  if options ~= '' then
    local o = cjson.decode(options)
    p, attempt, ukey, uexpiry, record = o[1], o[2], o[3], o[4], o[5]
  end
  local holder = nil
  if redis.call('HEXISTS', K_JOBS, id) == 1
     or (not reliable and redis.call('ZSCORE', K_INFLIGHT, id))
     or (tonumber(redis.call('ZSCORE', K_DONE, id)) or 0) > now then
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
    if attempt ~= 0 then redis.call('HSET', K_RUNS, id, attempt) end
    if p ~= 0 then redis.call('HSET', K_PRIO, id, p) end
    if due ~= '' and tonumber(due) > now then
      if earliest == false then earliest = earliest_due() end
      redis.call('ZADD', K_DELAYED, due, delayed_member(id))
      if not earliest or tonumber(due) < earliest then
        earliest = tonumber(due)
        woke = true
      end
    else
      if p == 0 then plain[#plain + 1] = id else push_ready(p, {id}, false) end
      woke = true
    end
    if record ~= '' then
      write_record(id, record)
      -- The envelope, once: a result read elsewhere carries the job's arguments.
      redis.call('HSET', base .. 'r:' .. id, 'payload', payload)
      redis.call('HSET', K_REC, id, 1)
    end
    ids[#ids + 1] = id
  end
end
push_ready(0, plain, false)
if woke then wake() end
return ids
