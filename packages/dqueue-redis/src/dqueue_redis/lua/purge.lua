-- Delete dead letters: ARGV[3..] ids, or all of them when none is given. Returns how many.
if #ARGV < 3 then
  local count = redis.call('ZCARD', K_DEAD)
  redis.call('UNLINK', K_DEAD, K_DEAD_DATA)
  return count
end
local count = 0
for i = 3, #ARGV do
  if redis.call('ZREM', K_DEAD, ARGV[i]) == 1 then
    redis.call('HDEL', K_DEAD_DATA, ARGV[i])
    count = count + 1
  end
end
return count
