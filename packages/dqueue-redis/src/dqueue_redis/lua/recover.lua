-- Recover every expired lease of the queue. ARGV[4] dead-letter limit, ARGV[5] the failure
-- type of an expired lease, ARGV[6] the id retention (seconds). Returns how many jobs went back to the queue or to the dead letters.
local total = 0
while true do
  local before = redis.call('ZCOUNT', K_INFLIGHT, '-inf', now_arg)
  if before == 0 then break end
  total = total + recover_expired(CHUNK, tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]))
end
return total
