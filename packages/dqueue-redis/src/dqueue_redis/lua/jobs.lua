-- One page of the jobs of one state, in one consistent look. ARGV[4] the state (a JobState
-- value), ARGV[5] how many, ARGV[6..] where the previous page ended: nothing for the first
-- page, (priority, index, id) in a ready list, (score, member) in a sorted set.
-- Replies {n, the n values of where this page ends (n = 0: no job follows), then 6 values per
-- job: id, stored data (payload or dead letter), runs ('' = none), score ('' = none), 1 when it
-- was cancelled in flight (else 0), the progress its run reported ('' = none)}.
-- Never an offset scan of a sorted set: a page starts at a rank found in O(log n).
local state = ARGV[4]
local limit = tonumber(ARGV[5])
local at = {unpack(ARGV, 6)}
local listed = {}  -- {id, data, runs, score, cancelled, progress, position}

-- One job more than asked for tells whether a page follows.
local function full()
  return #listed > limit
end

-- Redis orders members byte by byte; Lua's '<' follows the server's locale.
local function before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- The rank after (score, member) in ascending order, equal scores ordered by member: the
-- member's rank + 1 while it is there at that score, else a binary search among the members of
-- equal score (a million jobs may share a due time).
local function rank_after(key, score, member)
  local held = redis.call('ZSCORE', key, member)
  if held and tonumber(held) == tonumber(score) then return redis.call('ZRANK', key, member) + 1 end
  local low = redis.call('ZCOUNT', key, '-inf', '(' .. score)
  local high = low + redis.call('ZCOUNT', key, score, score)
  while low < high do
    local mid = math.floor((low + high) / 2)
    if before(member, redis.call('ZRANGE', key, mid, mid)[1]) then high = mid else low = mid + 1 end
  end
  return low
end

-- Jobs of sorted set `key` by rank, from `first` to `last` (-1: the end), with `command`
-- (ZRANGE or ZREVRANGE); `id_of` reads a job id from a member, `data_key` holds the job.
local function from_zset(key, command, first, last, id_of, data_key)
  while not full() do
    local stop = first + limit - #listed
    if last >= 0 then stop = math.min(stop, last) end
    if stop < first then return end
    local members = redis.call(command, key, first, stop, 'WITHSCORES')
    if #members == 0 then return end
    local ids = {}
    for i = 1, #members, 2 do ids[#ids + 1] = id_of(members[i]) end
    local data = redis.call('HMGET', data_key, unpack(ids))
    local runs = redis.call('HMGET', K_RUNS, unpack(ids))
    local marks, progress = {}, {}
    if key == K_INFLIGHT then
      marks = redis.call('SMISMEMBER', K_CANCELLED, unpack(ids))
      progress = redis.call('HMGET', K_PROGRESS, unpack(ids))
    end
    for i, id in ipairs(ids) do
      local member, score = members[2 * i - 1], members[2 * i]
      if data[i] then
        local entry = {id, data[i], runs[i] or '', score, marks[i] or 0, progress[i] or ''}
        entry[7] = {score, member}
        listed[#listed + 1] = entry
      end
    end
    first = first + #ids
  end
end

-- Jobs of the ready list of priority `p` from `index` (LRANGE from an index costs O(index), the
-- one walk here: a list has no rank to seek by). As reserve, it skips an id without a payload
-- (removed meanwhile) or with an owner (leased).
local function from_list(p, index)
  local key = ready_key(p)
  while not full() do
    local ids = redis.call('LRANGE', key, index, index + limit - #listed)
    if #ids == 0 then return end
    local payloads = redis.call('HMGET', K_JOBS, unpack(ids))
    local runs = redis.call('HMGET', K_RUNS, unpack(ids))
    for i, id in ipairs(ids) do
      local run = runs[i]
      if payloads[i] and not (run and string.find(run, '|', 1, true)) then
        listed[#listed + 1] = {id, payloads[i], run or '', '', 0, '', {p, index + i, id}}
      end
    end
    index = index + #ids
  end
end

-- Where a page in a ready list goes on: after its last id, which reserve (popping the head) or a
-- job put back at the front may have moved; LPOS finds it again. Gone, it was taken from the
-- head with every job before it.
local function resume(key, index, last)
  if index > 0 and redis.call('LINDEX', key, index - 1) == last then return index end
  return (redis.call('LPOS', key, last) or -1) + 1
end

local due = redis.call('ZCOUNT', K_DELAYED, '-inf', now_arg)
if state == 'ready' then
  if #at ~= 2 then
    -- Highest priority first, the plain list where priority 0 sorts: the order reserve takes.
    local from_p = #at == 3 and tonumber(at[1]) or math.huge
    local order, zero = {}, false
    for _, member in ipairs(redis.call('ZRANGE', K_PRIOS, 0, -1)) do
      local p = tonumber(member)
      if p < 0 and not zero then order[#order + 1], zero = 0, true end
      order[#order + 1] = p
    end
    if not zero then order[#order + 1] = 0 end
    for _, p in ipairs(order) do
      if p == from_p then
        from_list(p, resume(ready_key(p), tonumber(at[2]), at[3]))
      elseif p < from_p then
        from_list(p, 0)
      end
    end
  end
  -- Then delayed jobs that are due, which the next reserve moves to the end of their list.
  local first = 0
  if #at == 2 then first = rank_after(K_DELAYED, at[1], at[2]) end
  from_zset(K_DELAYED, 'ZRANGE', first, due - 1, member_id, K_JOBS)
elseif state == 'delayed' then
  local first = due
  if #at == 2 then first = math.max(due, rank_after(K_DELAYED, at[1], at[2])) end
  from_zset(K_DELAYED, 'ZRANGE', first, -1, member_id, K_JOBS)
elseif state == 'in_flight' and reliable then
  local first = 0
  if #at == 2 then first = rank_after(K_INFLIGHT, at[1], at[2]) end
  from_zset(K_INFLIGHT, 'ZRANGE', first, -1, function(member) return member end, K_JOBS)
elseif state == 'dead' then
  -- Newest first. Scores are a sequence, one per letter: the count of scores from the last
  -- one listed up is the rank to go on from, whether that letter is still there or not.
  local first = 0
  if #at == 2 then first = redis.call('ZCOUNT', K_DEAD, at[1], '+inf') end
  from_zset(K_DEAD, 'ZREVRANGE', first, -1, function(member) return member end, K_DEAD_DATA)
end

local reply = {0}
if full() then
  listed[#listed] = nil
  local position = listed[#listed][7]
  reply[1] = #position
  for _, value in ipairs(position) do reply[#reply + 1] = value end
end
for _, job in ipairs(listed) do
  for i = 1, 6 do reply[#reply + 1] = job[i] end
end
return reply
