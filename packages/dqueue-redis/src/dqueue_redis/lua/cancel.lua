-- Cancel jobs. ARGV[4] how long their ids stay taken (seconds), ARGV[5..] ids; ids this queue
-- doesn't hold are skipped. A waiting job is taken out and finishes, so that it never runs
-- (dqueue.lifecycle.cancelled). At-least-once, a leased job is marked instead: settle and lease
-- recovery finish it rather than store it again. At-most-once, a reserved job has left the
-- store and is not found. Returns the ids cancelled now.
local retention = tonumber(ARGV[4])
local cancelled = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local payload = redis.call('HGET', K_JOBS, id)
  if payload and redis.call('ZSCORE', K_INFLIGHT, id) then
    if redis.call('SADD', K_CANCELLED, id) == 1 then cancelled[#cancelled + 1] = id end
  elseif payload then
    unschedule(id, payload)
    forget({id})
    remember_finished({id}, retention)
    record_cancelled(id, 'finished_at', now_arg)
    cancelled[#cancelled + 1] = id
  end
end
return cancelled
