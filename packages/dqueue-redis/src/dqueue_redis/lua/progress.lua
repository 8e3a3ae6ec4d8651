-- Keep the progress a running task reported. ARGV[4] worker id, ARGV[5] job id, ARGV[6] the
-- attempt of its run, ARGV[7] the progress (JSON, checked by the client).
-- At-least-once, only while this worker holds the lease of that run: it is shown with the job
-- in flight until the job is settled (forget, or HDEL when it waits again). The job's result
-- record, if it keeps one and that run is still its running one, keeps it too; at-most-once
-- the record is the only place (the job left the store with its worker).
-- Returns 1 when it was kept somewhere, else 0.
local worker, id, attempt, progress = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local kept = 0
if reliable then
  if redis.call('HGET', K_RUNS, id) ~= attempt .. '|' .. worker then return 0 end
  redis.call('HSET', K_PROGRESS, id, progress)
  kept = 1
end
local record = base .. 'r:' .. id
local status, ran_on = unpack(redis.call('HMGET', record, 'status', 'w:' .. attempt))
if status == 'running' and ran_on == worker then
  redis.call('HSET', record, 'progress', progress)
  kept = 1
end
return kept
