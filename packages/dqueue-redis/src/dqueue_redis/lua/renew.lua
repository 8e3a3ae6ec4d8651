-- Extend leases. ARGV[3] worker id, ARGV[4] new deadline, ARGV[5] '1' for at-least-once,
-- ARGV[6..] job ids. Returns the ids whose lease this worker no longer holds.
local worker = ARGV[3]
local until_arg = ARGV[4]
local reliable = ARGV[5] == '1'
local lost = {}
for i = 6, #ARGV do
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
