-- What the queue holds under job id ARGV[4], in one look: {payload, runs, lease deadline, dead
-- letter, 1 when it was cancelled in flight (else 0), progress of its run}, each nil when there
-- is none.
local id = ARGV[4]
return {
  redis.call('HGET', K_JOBS, id),
  redis.call('HGET', K_RUNS, id),
  redis.call('ZSCORE', K_INFLIGHT, id),
  redis.call('HGET', K_DEAD_DATA, id),
  redis.call('SISMEMBER', K_CANCELLED, id),
  redis.call('HGET', K_PROGRESS, id),
}
