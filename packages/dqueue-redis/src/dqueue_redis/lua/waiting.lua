-- The waiting jobs of the queue (not those in flight): {id, payload, id, payload, ...}.
local all = redis.call('HGETALL', K_JOBS)
if ARGV[3] ~= '1' then return all end
local out = {}
for i = 1, #all, 2 do
  if not redis.call('ZSCORE', K_INFLIGHT, all[i]) then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
