-- What the queue holds under job id ARGV[4], in one look: {payload, runs, lease deadline, dead
-- letter}, each nil when there is none.
local id = ARGV[4]
return {
  redis.call('HGET', K_JOBS, id),
  redis.call('HGET', K_RUNS, id),
  redis.call('ZSCORE', K_INFLIGHT, id),
  redis.call('HGET', K_DEAD_DATA, id),
}
