-- Extend leases. ARGV[4] worker id, ARGV[5] new deadline, ARGV[6] the server's clock at sending
-- (see late_by), ARGV[7..] job ids. Returns the ids whose lease this worker no longer holds.
local worker = ARGV[4]
local until_arg = tonumber(ARGV[5]) + late_by(ARGV[6])
local lost = {}
for i = 7, #ARGV do
  local id = ARGV[i]
  local held = redis.call('ZSCORE', K_INFLIGHT, id)
  if held and reliable then
    held = string.match(redis.call('HGET', K_RUNS, id) or '', '^%d+|(.*)$') == worker
  end
  if held then
    redis.call('ZADD', K_INFLIGHT, 'XX', until_arg, id)
  elseif reliable then
    lost[#lost + 1] = id
  end
end
return lost
