-- Remove the waiting jobs ARGV[4..] (deduplicate); ids in flight or gone are left alone, and
-- the unique keys of removed jobs are free again. Ready lists are rewritten in one pass rather
-- than searched once per id. Returns how many went. (A whole queue goes by clear.lua.)
local targets = {}
local ids = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  if not targets[id] and redis.call('HEXISTS', K_JOBS, id) == 1
     and not redis.call('ZSCORE', K_INFLIGHT, id) then
    targets[id] = true
    ids[#ids + 1] = id
  end
end
if #ids == 0 then return 0 end
local lists = {K_READY}
for _, member in ipairs(redis.call('ZRANGE', K_PRIOS, 0, -1)) do
  lists[#lists + 1] = ready_key(tonumber(member))
end
for _, key in ipairs(lists) do
  local items = redis.call('LRANGE', key, 0, -1)
  local kept = {}
  for _, id in ipairs(items) do
    if not targets[id] then kept[#kept + 1] = id end
  end
  if #kept < #items then
    redis.call('DEL', key)
    call_chunked('RPUSH', key, kept)
  end
end
local doomed = {}
for _, member in ipairs(redis.call('ZRANGE', K_DELAYED, 0, -1)) do
  if targets[member_id(member)] then doomed[#doomed + 1] = member end
end
call_chunked('ZREM', K_DELAYED, doomed)
forget(ids)
return #ids
